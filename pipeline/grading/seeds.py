"""Several seeds per submission: combine one result per seed into the submission's result.

Scores are averaged over the seeds and their spread is kept as `<key>_std` (the sample standard
deviation, ddof=1; None for a single seed). The first seed's training history, model facts and
feedback represent the submission. A submission fails as soon as one seed fails: its status and
message are that seed's, since a model that only sometimes trains is not graded on its good runs.
An integrity flag (`review`) raised on any seed stands for the submission, naming its seed.
"""

from __future__ import annotations

import math
from typing import Optional

from pipeline import status

# Averaged over the seeds; each also gets a `<key>_std`.
AVERAGED = ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy",
            "train_seconds", "predict_seconds")
# Kept per seed, for the record and for `rerun`'s bit-identical comparison.
PER_SEED = (*AVERAGED, "predictions_sha256", "wall_seconds")


def mean_and_std(values: list[float]) -> tuple[float, Optional[float]]:
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def combine(seeds: list[int], per_seed_results: list[dict]) -> dict:
    """One result from the per-seed results of one submission (in seed order; may be shorter
    than `seeds` when a failure stopped the rest)."""
    if not per_seed_results:
        raise ValueError("combine needs at least one seed's result")
    first = per_seed_results[0]
    combined = {key: value for key, value in first.items() if key not in PER_SEED}
    combined["seeds"] = list(seeds)
    combined["per_seed"] = [
        {"seed": seed, **{key: result.get(key) for key in PER_SEED if result.get(key) is not None}}
        for seed, result in zip(seeds, per_seed_results)
    ]
    combined["wall_seconds"] = math.fsum(result.get("wall_seconds") or 0.0 for result in per_seed_results)
    for key in ("peak_rss_mb", "peak_memory_mb"):
        values = [result[key] for result in per_seed_results if result.get(key) is not None]
        combined[key] = max(values) if values else None
    reviews = [(seed, result["review"]) for seed, result in zip(seeds, per_seed_results) if result.get("review")]
    combined["review"] = "; ".join(f"seed {seed}: {review}" if len(seeds) > 1 else review
                                   for seed, review in reviews) or None

    failed = [(seed, result) for seed, result in zip(seeds, per_seed_results) if result["status"] != status.OK]
    if failed:
        seed, result = failed[0]
        prefix = f"seed {seed}: " if len(seeds) > 1 else ""
        combined.update(status=result["status"], error=prefix + (result.get("error") or ""))
        for key in AVERAGED:
            combined.pop(key, None)
        return combined
    if len(per_seed_results) != len(seeds):
        raise ValueError(f"expected a result for each of the seeds {seeds}, got {len(per_seed_results)}")
    for key in AVERAGED:
        values = [result[key] for result in per_seed_results if result.get(key) is not None]
        if len(values) == len(per_seed_results):
            combined[key], combined[f"{key}_std"] = mean_and_std(values)
    return combined
