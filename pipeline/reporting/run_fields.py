"""What one graded submission's MLflow run records: its provenance, tags, params and metrics.

The runs table of a track's experiment is its leaderboard: run name = submission id; metrics
`public_accuracy` (the ranking accuracy during the course), `private_accuracy`, `trainable_params`,
`total_params`, `mflops_per_image`, `images_per_second`, `train_seconds` and `leaderboard_order`
(the leaderboard's sort key, set by `grade` once the track is graded, rank_publish.py); tags
`status`, `baseline`, `pareto` and `pareto_compute` (the two Pareto fronts: accuracy vs parameters,
accuracy vs FLOPs per image), `duplicate` (which of the code and the architecture another
submission shares: its `source_hash` and `architecture_hash` tags find the twins), `review` (the
integrity flag's message, empty when none) and `current`.

Every run also records its provenance: the submission's content hash, the git commit, the
prepared data's hash in dvc.lock, the schedule, seeds, hidden split and package versions.
"""

from __future__ import annotations

import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml
from mlflow.entities import Metric

from pipeline.grading.record import Result
from pipeline.grading.run_artifacts import PYTHON_VERSION_TAG, VERSION_TAG_PREFIX

SCALAR_METRICS = ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy",
                  "train_seconds", "predict_seconds", "wall_seconds", "peak_rss_mb", "trainable_params",
                  "total_params", "mflops_per_image", "images_per_second")
STD_SUFFIX = "_std"
# Per-seed values are logged with the seed as the step: `seed_public_accuracy` at step 1234, ...
PER_SEED_PREFIX = "seed_"
# History keys are renamed so per-epoch curves sit apart from the final scores.
HISTORY_PREFIX = "epoch_"
VERSIONED_PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "numpy", "mlflow", "dvc", "pandas")


def dvc_lock_data_md5(dataset_name: str, lock_path: Path) -> str:
    """The md5 dvc.lock records for data/prepared/<dataset> (the preprocess stage's output)."""
    try:
        lock = yaml.safe_load(lock_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "unknown"
    stage = (lock.get("stages") or {}).get(f"preprocess@{dataset_name}") or {}
    for out in stage.get("outs") or []:
        if out.get("path") == f"data/prepared/{dataset_name}":
            return str(out.get("md5", "unknown"))
    return "unknown"


def provenance() -> dict[str, str]:
    """What a run was produced with: the code's git commit and the key package versions."""
    try:
        completed = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        commit = completed.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    tags = {"git_commit": commit, "git_dirty": "true" if dirty else "false",
            PYTHON_VERSION_TAG: platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            tags[f"{VERSION_TAG_PREFIX}{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return tags


def flag(value) -> str:
    """A boolean as MLflow's tag filters compare it: `tags.current = 'true'`."""
    return "true" if value else "false"


def duplicate_kinds(ranked) -> list[str]:
    """Per row of a ranked table: "source", "architecture", both ("source, architecture") or "",
    as the kinds of twin the row has (the same normalised code or architecture as another row;
    an unknown hash never matches). A flag, not the list of twins: a row's flag changes only when
    its group gains its second member or loses it, so a resubmission rewrites one run or two,
    not every run of its group."""
    shared = {}
    for kind, column in (("source", "source_hash"), ("architecture", "architecture_hash")):
        hashes = ranked[column].where(ranked[column].map(lambda value: isinstance(value, str) and value != ""))
        shared[kind] = hashes.map(hashes.value_counts()).fillna(0).to_numpy() >= 2
    return [", ".join(kind for kind in shared if shared[kind][index]) for index in range(len(ranked))]


def handin_tags(late, late_days, penalty, source, commit, lms_file) -> dict[str, str]:
    """Lateness and provenance tags (from `collect`'s submission.yaml): what exactly was graded."""
    return {
        "late": flag(late),
        "late_days": str(int(late_days or 0)),
        "penalty": f"{float(penalty or 0):g}",
        "handin_source": source or "",
        "handin_commit": commit or "",
        "handin_lms_file": lms_file or "",
    }


def run_tags(result: Result) -> dict[str, str]:
    return {
        **handin_tags(result.late, result.late_days, result.penalty, result.handin_source, result.handin_commit,
                      result.handin_lms_file),
        "current": "true",
        "superseded": "false",
        "submission": result.submission,
        "student_id": str(result.student_id or result.submission),
        "track": result.track,
        "status": result.status,
        "baseline": flag(result.baseline),
        "error": (result.error or "")[:5000],
        "content_hash": result.content_hash,
        "source_hash": result.source_hash or "",
        "architecture_hash": result.architecture_hash or "",
        "submitted_at": result.submitted_at or "",
        "submitted_at_source": result.submitted_at_source or "",
        "data_fingerprint": result.data_fingerprint,
        "grader_fingerprint": result.grader_fingerprint,
        "output_kind": result.output_kind or "",
        # true: model.py's own classes were loaded where the model trained (docs/architecture/trust-boundary.md).
        "custom_code": "" if result.custom_code is None else flag(result.custom_code),
        # The integrity flag (grading/integrity.py): hidden-test accuracy far above validation.
        "review": result.review or "",
        # Where it trained (the Ray node id on a cluster) and the attempts lost with their workers.
        "executor": result.executor,
        "node": result.node or "",
        "lost_attempts": "\n".join(result.lost_attempts)[:5000],
    }


def run_params(result: Result) -> dict[str, str]:
    config = result.grading_config
    track = config.get("track") or {}
    params = {f"schedule.{key}": value for key, value in result.schedule.items()}
    params.update({f"subset.{key}": value for key, value in (track.get("subset") or {}).items()})
    params.update({f"hidden_split.{key}": value for key, value in (config.get("hidden_split") or {}).items()})
    params["seeds"] = ",".join(str(seed) for seed in result.seeds or [result.schedule["seed"]])
    for key in ("trainable_params", "total_params"):
        if getattr(result, key) is not None:
            params[key] = getattr(result, key)
    return {key: str(value) for key, value in params.items()}


def run_metrics(result: Result, now: int) -> list[Metric]:
    metrics = []
    for key in SCALAR_METRICS:
        for name in (key, key + STD_SUFFIX):
            value = getattr(result, name, None)
            if value is not None and math.isfinite(float(value)):
                metrics.append(Metric(name, float(value), now, 0))
    if len(result.per_seed) > 1:
        for entry in result.per_seed:
            for key in ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy"):
                if getattr(entry, key) is not None:
                    metrics.append(Metric(PER_SEED_PREFIX + key, float(getattr(entry, key)), now, entry.seed))
    for key, values in (result.history or {}).items():
        metrics += [Metric(HISTORY_PREFIX + key, value, now, step) for step, value in enumerate(values, start=1)
                    if math.isfinite(value)]
    return metrics
