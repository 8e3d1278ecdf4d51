"""Trusted scoring: turn a finished (or lost) training into a result, against the hidden labels.

This runs in the grading process, wherever the training ran. Hidden labels never leave it, and
only aggregates (accuracies and a hash of the predictions) are kept; nothing per hidden item.
Scoring follows Kaggle: the hidden split is divided (stratified, seeded: leaderboard.hidden_split)
into a public and a private part, and each result carries both accuracies besides the full one.

No student code runs where the trainer trains, counts and times (sandbox/trainer/train.py), so
its figures are the trainer's own; only the keys in `TRAINER_KEYS` are taken from its result, and
the cheap ones are counted again here from its output files all the same.
"""

from __future__ import annotations

import io
import json
import math
import signal
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline import status
from pipeline.config import HiddenSplit, Track
from pipeline.data import layout, splits
from pipeline.grading import fingerprints, integrity, jobs
from pipeline.sandbox import exchange, pair
from pipeline.sandbox.supervise import RunOutcome

# What the trainer's result.json may contribute; anything else it writes is ignored.
TRAINER_KEYS = ("status", "error", "trainable_params", "total_params", "constant_params", "output_kind", "train_seconds",
                "history", "epoch_seconds", "validation_accuracy", "predict_seconds", "custom_code",
                "optimizer_updates", "mflops_per_image", "images_per_second")
MISMATCH = "the reported figures do not match the model"
# How far the trainer's own validation accuracy (Keras' metric during fit) may be from the grader's
# count on the validation predictions: the two passes use other batch sizes, so a few images may flip.
VALIDATION_TOLERANCE = 0.01


@dataclass
class TrackData:
    """What grading a track needs besides the submissions, loaded once per run."""

    prepared_dir: Path
    meta: dict
    inputs: pair.TrainingInputs  # what every sandbox gets (the track's subset applied)
    hidden_y: np.ndarray  # the (subset's) hidden labels: stay in this process
    parts: tuple[np.ndarray, np.ndarray]  # public and private indices of hidden_y

    @classmethod
    def load(cls, prepared_dir: Path, track: Track, hidden_split: HiddenSplit) -> "TrackData":
        meta = layout.load_meta(prepared_dir)
        hidden_y = jobs.take(np.load(prepared_dir / layout.HIDDEN_Y_FILE), track.subset.hidden)
        return cls(prepared_dir, meta, jobs.load_inputs(prepared_dir, meta, track.subset),
                   hidden_y, public_private_parts(hidden_y, hidden_split))


def outcome_failure(outcome: RunOutcome, track: Track) -> tuple[str, str]:
    """Status and one actionable line for a job stopped by a limit or that wrote no result."""
    limits = track.limits
    if outcome.timed_out:
        return status.TIMEOUT, (f"ran longer than this track's limit of {limits.wall_seconds:g} s "
                                "(limits.wall_seconds) and was stopped: use a smaller or faster model")
    if outcome.out_of_memory:
        return status.OUT_OF_MEMORY, (f"used more than this track's memory limit of {limits.memory_mb} MB "
                                      "(limits.memory_mb) and was stopped: use a smaller model and no large arrays")
    if outcome.out_of_disk:
        return status.OUT_OF_DISK, (f"wrote more than this track's limit of {limits.disk_mb} MB of files "
                                    "(limits.disk_mb) and was stopped: do not write files in model.py")
    if outcome.too_many_processes:
        return status.CRASHED, (f"started more than this track's limit of {limits.max_processes} processes "
                                "and threads (limits.max_processes) and was stopped: do not start processes "
                                "or threads in model.py")
    if outcome.returncode is not None and outcome.returncode < 0:
        try:
            name = signal.Signals(-outcome.returncode).name
        except ValueError:
            name = f"signal {-outcome.returncode}"
        return status.CRASHED, f"the training process was killed by {name}: see the log for the last thing it did"
    last_lines = [line for line in outcome.log_tail.strip().splitlines() if line.strip()]
    detail = last_lines[-1][:300] if last_lines else "no output"
    return status.CRASHED, f"the training process exited with code {outcome.returncode} without a result: {detail}"


def public_private_parts(hidden_y: np.ndarray, hidden_split: HiddenSplit) -> tuple[np.ndarray, np.ndarray]:
    """The public and private index sets of the (subset's) hidden labels."""
    return splits.public_private_split(hidden_y, hidden_split.public_fraction, hidden_split.seed)


def score(result: dict, predictions_npy: Optional[bytes], hidden_y: np.ndarray, num_classes: int,
          parts: Optional[tuple[np.ndarray, np.ndarray]] = None) -> dict:
    """Trusted scoring: accuracy on the whole hidden split and on its public and private parts.
    `predictions_npy`: the trainer's predictions.npy (None: it wrote none, or one too large).

    Only these aggregates leave this function; nothing per hidden item is kept.
    """
    if predictions_npy is None:
        return {**result, "status": status.CRASHED, "error": "predictions unreadable: no predictions file "
                                                             f"of at most {pair.MAX_OUTPUT_BYTES // 2**20} MB"}
    try:
        predictions = np.load(io.BytesIO(predictions_npy), allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        return {**result, "status": status.CRASHED, "error": f"predictions unreadable: {error}"}
    expected_shape = (len(hidden_y), num_classes)
    if predictions.shape != expected_shape:
        return {**result, "status": status.CRASHED,
                "error": f"predictions have shape {predictions.shape}, expected {expected_shape}"}
    if not np.all(np.isfinite(predictions)):
        return {**result, "status": status.DIVERGED, "error": "the model predicts NaN or infinite values"}
    correct = predictions.argmax(axis=1) == hidden_y
    scores = {"test_accuracy": float(np.mean(correct)),
              "predictions_sha256": fingerprints.bytes_sha256(np.ascontiguousarray(predictions).tobytes())}
    if parts is not None:
        public, private = parts
        scores["public_accuracy"] = float(np.mean(correct[public]))
        scores["private_accuracy"] = float(np.mean(correct[private]))
    return {**result, **scores}


def judge(run: pair.TrainingRun, track: Track, data: TrackData) -> dict:
    """Turn a finished (or lost) training into a result: status, error and, if it ran, the scores."""
    outcome = run.outcome
    if outcome is None:  # every attempt died with its worker: nothing the submission did
        return {"status": status.CRASHED, "wall_seconds": run.lost_seconds,
                "error": f"the worker training it was lost {len(run.lost_attempts)} time(s) "
                         f"(grading.ray.max_retries = {len(run.lost_attempts) - 1}); last: {run.lost_attempts[-1]}"}
    result = _parse_json(run.outputs.get(exchange.RESULT_FILE))
    if not isinstance(result, dict) or result.get("status") not in status.ALL:
        result = None  # missing, or garbled by the submission itself
    else:
        result = {key: result[key] for key in TRAINER_KEYS if key in result}
    if result is None or outcome.stopped:
        code, message = outcome_failure(outcome, track)
        result = {**(result or {}), "status": code, "error": message}
    elif result["status"] == status.OK:
        problem = cross_check(result, run.outputs, track, data)
        if problem:
            result = {**result, "status": status.INVALID, "error": f"{MISMATCH}: {problem}"}
        else:
            result = score(result, run.outputs.get(exchange.PREDICTIONS_FILE), data.hidden_y,
                           data.inputs.num_classes, data.parts)
            # Both accuracies counted here: a test score no honest model reaches over its own
            # validation score (memorised test data) is flagged for a person to look at.
            counted_validation = validation_accuracy(run.outputs.get(exchange.VAL_PREDICTIONS_FILE),
                                                     data.inputs.y_val)
            result["review"] = integrity.review(result.get("test_accuracy"), len(data.hidden_y),
                                                counted_validation, len(data.inputs.y_val))
    summary = run.outputs.get(exchange.SUMMARY_FILE)
    result["model_summary"] = summary.decode("utf-8", "replace") if summary is not None else None
    if result.get("error"):
        result["error"] = status.one_line(str(result["error"]))
    result.update(wall_seconds=outcome.wall_seconds, cpu_quota_cores=outcome.cpu_quota_cores,
                  peak_rss_mb=outcome.peak_rss_mb,
                  peak_memory_mb=outcome.peak_memory_mb, sandboxed=outcome.sandboxed)
    return result


def _array_size(member) -> int:
    """The element count an .npy stream declares in its header (the data itself is not read)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise ValueError("an object array (pickled data) is not a weight")
    return int(np.prod(shape, dtype=np.int64))


def count_weights(weights_npz: Optional[bytes]) -> Optional[tuple[int, int]]:
    """(trainable, total) parameters counted from the trained weights' arrays, or None if unreadable.

    Only each array's header is read (shape and dtype): no pickles, no code, and no decompression
    of the data, so a compressed archive declaring huge arrays costs nothing to count.
    """
    if weights_npz is None:
        return None
    sizes = {}
    try:
        with zipfile.ZipFile(io.BytesIO(weights_npz)) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    sizes[info.filename.removesuffix(".npy")] = _array_size(member)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    trainable = sum(size for name, size in sizes.items() if name.startswith(exchange.TRAINABLE_PREFIX))
    return trainable, sum(sizes.values())


def validation_accuracy(val_predictions_npy: Optional[bytes], y_val: np.ndarray) -> Optional[float]:
    """The final model's accuracy on the validation split, counted here from its outputs."""
    if val_predictions_npy is None:
        return None
    try:
        outputs = np.load(io.BytesIO(val_predictions_npy), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if outputs.ndim != 2 or len(outputs) != len(y_val):
        return None
    return float(np.mean(outputs.argmax(axis=1) == y_val))


def cross_check(result: dict, outputs: dict[str, bytes], track: Track, data: TrackData) -> Optional[str]:
    """What a trainer claims, checked against what the grader can count itself; the problem, or None.

    The trainable parameters are recounted from the trained weights and the budget checked on the
    total; the history must cover the scheduled epochs and the optimizer the scheduled number of
    updates; the validation accuracy is counted from the validation predictions.
    """
    counted = count_weights(outputs.get(exchange.WEIGHTS_FILE))
    if counted is None:
        return "no readable trained weights"
    trainable, _ = counted
    if result.get("trainable_params") != trainable:
        return (f"{result.get('trainable_params')} trainable parameters reported, {trainable} counted in the "
                "trained weights")
    total = result.get("total_params")
    if not isinstance(total, int) or total < trainable:
        return f"{total} parameters reported, at least {trainable} counted in the trained weights"
    if total > track.limits.max_params:
        return f"{total:,} parameters, over this track's budget of {track.limits.max_params:,}"
    schedule = track.schedule
    epochs = len((result.get("history") or {}).get("loss") or [])
    if epochs != schedule.epochs:
        return f"a history of {epochs} epochs, but the schedule trains {schedule.epochs}"
    expected_updates = schedule.epochs * math.ceil(len(data.inputs.y_train) / schedule.batch_size)
    if result.get("optimizer_updates") != expected_updates:
        return (f"{result.get('optimizer_updates')} optimizer updates, but the schedule makes {expected_updates} "
                f"({schedule.epochs} epochs x {math.ceil(len(data.inputs.y_train) / schedule.batch_size)} batches)")
    counted_accuracy = validation_accuracy(outputs.get(exchange.VAL_PREDICTIONS_FILE), data.inputs.y_val)
    claimed = result.get("validation_accuracy")
    if counted_accuracy is not None and (not isinstance(claimed, (int, float))
                                         or abs(claimed - counted_accuracy) > VALIDATION_TOLERANCE):
        return f"validation accuracy {claimed} reported, {counted_accuracy:.4f} counted"
    return None


def _parse_json(content: Optional[bytes]):
    try:
        return json.loads(content) if content is not None else None
    except ValueError:
        return None


