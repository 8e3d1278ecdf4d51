"""`python -m pipeline check submissions/<id>`: a student's pre-flight check, in seconds.

It grades the submission exactly as the real grader does (same loader, same sandbox, same
schedule and limits) but on a small slice of the public data for two epochs, then reports what
would go wrong in the real run, with the fix, and an estimate of the full schedule's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline import status
from pipeline.config import HiddenSplit, Subset, Track
from pipeline.grading.executors.local import LocalExecutor
from pipeline.grading.orchestrate import train_and_score
from pipeline.grading.scoring import TrackData
from pipeline.sandbox.isolation import IsolationPolicy, choose_isolation

# Small enough to run in seconds, large enough to time an epoch meaningfully.
CHECK_SUBSET = Subset(train=2048, validation=512, hidden=256)
# Two epochs: the first pays one-off graph tracing, the second times a steady epoch.
CHECK_EPOCHS = 2

FIXES = {
    status.TIMEOUT: "make the model smaller or cheaper per image (fewer units, fewer or smaller convolutions)",
    status.OUT_OF_MEMORY: "use fewer or smaller layers; do not allocate large arrays in model.py",
    status.DIVERGED: "check activations and initialisation; a last layer ending in softmax AND a loss on "
                     "logits is not the cause (the grader detects that), exploding weights usually are",
    status.CRASHED: "read the log lines above: the last one is usually the error",
}


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def good(self, text: str) -> None:
        self.lines.append(f"  ✓ {text}")

    def bad(self, text: str) -> None:
        self.lines.append(f"  ✗ {text}")
        self.problems.append(text)


def estimate_full_seconds(result: dict, track: Track, full_train_size: int, slice_train_size: int) -> float:
    """Scale the slice's steady-state epoch time to the full training set and epoch count.

    The first epoch also pays for tracing the graph, so the last (second) one is the measure.
    """
    per_image = result["epoch_seconds"][-1] / slice_train_size
    return per_image * full_train_size * track.schedule.epochs + result.get("predict_seconds", 0.0)


def check_submission(submission_dir: Path, track_name: str, track: Track, prepared_dir: Path,
                     policy: IsolationPolicy = IsolationPolicy(), echo=print) -> CheckReport:
    """Run the quick grading and turn its result into a report."""
    quick = track.model_copy(update={
        "subset": CHECK_SUBSET,
        "schedule": track.schedule.model_copy(update={"epochs": CHECK_EPOCHS}),
    })
    data = TrackData.load(prepared_dir, quick, HiddenSplit())
    meta = data.meta
    with LocalExecutor(data.inputs, choose_isolation(policy), track.schedule.threads) as executor:
        result, log_tail = train_and_score(submission_dir.resolve(), f"{track_name}/{submission_dir.name}", quick,
                                           data, executor, echo=echo)
    report = CheckReport()
    if result.get("trainable_params") is not None:
        report.good("model.py loads and returns a keras.Model")
        report.good(f"input (None, {', '.join(map(str, meta['input_shape']))}), "
                    f"output (None, {meta['num_classes']}), {result.get('output_kind', '?')}")
        report.good(f"{result['total_params']:,} parameters, {result['trainable_params']:,} of them trainable "
                    f"(budget {track.limits.max_params:,}, trainable or not)")
        if result.get("custom_code"):
            report.good("custom code: traced into a graph that trains without model.py (allowed; the "
                        "leaderboard marks it custom_code)")
    if result["status"] != status.OK:
        fix = FIXES.get(result["status"], "")
        report.bad(f"{result['status']}: {result['error']}" + (f"\n    fix: {fix}" if fix else ""))
        if result["status"] == status.CRASHED:
            tail = [line for line in log_tail.splitlines() if line.strip()][-15:]
            report.lines.extend(f"    | {line}" for line in tail)
        return report

    history = result["history"]
    report.good(f"trains: {CHECK_EPOCHS} epochs on {CHECK_SUBSET.train:,} images in {result['train_seconds']:.1f} s, "
                f"loss {history['loss'][-1]:.3f}, validation accuracy {history['val_accuracy'][-1]:.3f}")
    report.good(f"predicts {CHECK_SUBSET.hidden} hidden inputs in {result['predict_seconds']:.2f} s")
    full_train = meta["counts"]["train"]
    if track.subset.train is not None:
        full_train = min(full_train, track.subset.train)
    estimate = estimate_full_seconds(result, track, full_train, CHECK_SUBSET.train)
    limit = track.limits.wall_seconds
    text = (f"estimated full schedule: {track.schedule.epochs} epochs x {full_train:,} images "
            f"~ {estimate / 60:.1f} min (limit {limit / 60:.0f} min)")
    if estimate > limit:
        report.bad(text + f"\n    fix: {FIXES[status.TIMEOUT]}")
    else:
        report.good(text)
    return report
