"""The grade stage of one track: find stale submissions, train each in a sandbox, score it.

A result is stale when its cache key changed: the hash of the submission folder, the track's
schedule, limits and subset, the prepared data and the grader's own code. So one edited
`model.py` re-trains alone, a new folder is picked up without a roster, and a new schedule
re-grades the whole track. Hidden labels never leave this (trusted) process.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from pipeline import hashing, preprocess, sandbox, status, workdir as files
from pipeline.config import Track

# A change to any of these changes results, so it invalidates every cached result.
GRADER_CODE = [
    Path(__file__).parent / name
    for name in ("train.py", "submission.py", "sandbox.py", "grade.py", "workdir.py", "status.py")
]
RESULT_SUFFIX = ".json"
LOG_SUFFIX = ".log"


def list_submissions(submissions_dir: Path) -> list[Path]:
    """Every folder in submissions/ is a submission (hidden and cache folders excepted)."""
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir}/ does not exist: create it and add submissions/<id>/model.py")
    return sorted(
        path for path in submissions_dir.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )


def data_fingerprint(prepared_dir: Path) -> str:
    files = [preprocess.PUBLIC_FILE, preprocess.HIDDEN_X_FILE, preprocess.HIDDEN_Y_FILE]
    return hashing.json_sha256([hashing.file_sha256(prepared_dir / name) for name in files])


def track_fingerprint(track: Track, data_key: str) -> str:
    """Everything besides the submission itself that a result depends on."""
    return hashing.json_sha256({
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "subset": track.subset.model_dump(),
        "data": data_key,
        "grader": [hashing.file_sha256(path) for path in GRADER_CODE],
    })


def load_result(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or half-written: grade again


def write_json_atomic(path: Path, value: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(partial, path)


def _take(array: np.ndarray, limit: Optional[int]) -> np.ndarray:
    return array if limit is None else array[:limit]


def write_workdir(workdir: Path, track: Track, prepared_dir: Path, meta: dict, threads: int) -> None:
    """What the sandbox gets: public arrays, hidden *inputs* and the job; never hidden labels."""
    public = preprocess.load_public(prepared_dir)
    np.savez(
        workdir / files.PUBLIC_FILE,
        x_train=_take(public["x_train"], track.subset.train),
        y_train=_take(public["y_train"], track.subset.train),
        x_val=_take(public["x_val"], track.subset.validation),
        y_val=_take(public["y_val"], track.subset.validation),
    )
    hidden_x = np.load(prepared_dir / preprocess.HIDDEN_X_FILE, mmap_mode="r")
    np.save(workdir / files.HIDDEN_X_FILE, _take(hidden_x, track.subset.hidden))
    job = {
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "input_shape": meta["input_shape"],
        "num_classes": meta["num_classes"],
        "threads": threads,
    }
    (workdir / files.JOB_FILE).write_text(json.dumps(job))


def outcome_failure(outcome: sandbox.RunOutcome, track: Track) -> tuple[str, str]:
    """Status and one actionable line for a job stopped by a limit or that wrote no result."""
    limits = track.limits
    if outcome.timed_out:
        return status.TIMEOUT, (f"ran longer than this track's limit of {limits.wall_seconds:g} s "
                                "(limits.wall_seconds) and was stopped: use a smaller or faster model")
    if outcome.out_of_memory:
        return status.OUT_OF_MEMORY, (f"used more than this track's memory limit of {limits.memory_mb} MB "
                                      "(limits.memory_mb) and was stopped: use a smaller model and no large arrays")
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


def score(result: dict, predictions_path: Path, hidden_y: np.ndarray, num_classes: int) -> dict:
    """Trusted scoring: hidden accuracy from the sandbox's predictions."""
    try:
        predictions = np.load(predictions_path, allow_pickle=False)
    except (OSError, ValueError) as error:
        return {**result, "status": status.CRASHED, "error": f"predictions unreadable: {error}"}
    expected_shape = (len(hidden_y), num_classes)
    if predictions.shape != expected_shape:
        return {**result, "status": status.CRASHED,
                "error": f"predictions have shape {predictions.shape}, expected {expected_shape}"}
    if not np.all(np.isfinite(predictions)):
        return {**result, "status": status.DIVERGED, "error": "the model predicts NaN or infinite values"}
    accuracy = float(np.mean(predictions.argmax(axis=1) == hidden_y))
    return {**result, "test_accuracy": accuracy}


def _echo_progress(echo, label: str, line: str) -> None:
    """Show the trainer's own lines (epochs, status); TensorFlow's start-up noise stays in the log."""
    if line.startswith(files.LOG_PREFIX):
        echo(f"  {label}: {line[len(files.LOG_PREFIX):]}")


def grade_one(submission_dir: Path, track_name: str, track: Track, prepared_dir: Path, meta: dict,
              hidden_y: np.ndarray, threads: int, echo,
              isolation: Optional[sandbox.Isolation] = None) -> tuple[dict, str]:
    """Train and score one submission; every outcome becomes a result dict, never an exception.

    Only a failure of the grader itself (the sandbox could not start) raises.
    """
    # A submission "folder" that is a link to the project would hand the sandbox the hidden labels.
    resolved, prepared = submission_dir.resolve(), prepared_dir.resolve()
    if resolved == prepared or resolved in prepared.parents:
        result = {"status": status.INVALID, "wall_seconds": 0.0,
                  "error": "the submission folder links to the project's own folders: submit a plain folder "
                           "holding model.py"}
        return result, ""
    with tempfile.TemporaryDirectory(prefix=f"gradebench-{submission_dir.name}-") as scratch:
        workdir = Path(scratch)
        write_workdir(workdir, track, prepared_dir, meta, threads)
        outcome = sandbox.run_training(
            submission_dir, workdir, track.limits, threads, track.schedule.seed,
            on_line=lambda line: _echo_progress(echo, f"{track_name}/{submission_dir.name}", line),
            isolation=isolation,
        )
        result = load_result(workdir / files.OUT_DIR / files.RESULT_FILE)
        if not isinstance(result, dict) or result.get("status") not in status.ALL:
            result = None  # missing, or garbled by the submission itself
        stopped = outcome.timed_out or outcome.out_of_memory or outcome.too_many_processes
        if result is None or stopped:
            code, message = outcome_failure(outcome, track)
            result = {**(result or {}), "status": code, "error": message}
        elif result["status"] == status.OK:
            predictions_path = workdir / files.OUT_DIR / files.PREDICTIONS_FILE
            result = score(result, predictions_path, _take(hidden_y, track.subset.hidden), meta["num_classes"])
        summary_path = workdir / files.OUT_DIR / files.SUMMARY_FILE
        result["model_summary"] = summary_path.read_text() if summary_path.exists() else None
    if result.get("error"):
        result["error"] = status.one_line(str(result["error"]))
    result.update(wall_seconds=outcome.wall_seconds, peak_rss_mb=outcome.peak_rss_mb,
                  peak_memory_mb=outcome.peak_memory_mb, sandboxed=outcome.sandboxed)
    return result, outcome.log_tail


def grade_track(track_name: str, track: Track, submissions_dir: Path, prepared_dir: Path,
                results_dir: Path, workers: int, on_result=None, unsafe_no_sandbox: bool = False,
                bwrap_executable: str = sandbox.DEFAULT_BWRAP) -> list[dict]:
    """Grade every stale submission of one track; return all current results.

    Raises sandbox.SandboxUnavailable (before running anything) when bubblewrap cannot isolate
    submissions and `unsafe_no_sandbox` (grading.unsafe_no_sandbox / --unsafe-no-sandbox) is off.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    meta = preprocess.load_meta(prepared_dir)
    hidden_y = np.load(prepared_dir / preprocess.HIDDEN_Y_FILE)
    data_key = data_fingerprint(prepared_dir)
    track_key = track_fingerprint(track, data_key)
    submissions = list_submissions(submissions_dir)

    # Results of deleted submissions would linger on the leaderboard: remove them.
    current_ids = {path.name for path in submissions}
    for old in results_dir.glob(f"*{RESULT_SUFFIX}"):
        if old.stem not in current_ids:
            old.unlink()
            old.with_suffix(LOG_SUFFIX).unlink(missing_ok=True)

    stale = []
    for submission_dir in submissions:
        submission_dir = submission_dir.resolve()
        content_hash = hashing.folder_sha256(submission_dir)
        cache_key = hashing.json_sha256([content_hash, track_key])
        existing = load_result(results_dir / f"{submission_dir.name}{RESULT_SUFFIX}")
        if existing is None or existing.get("cache_key") != cache_key:
            stale.append((submission_dir, content_hash, cache_key))
    print(f"{track_name}: {len(submissions)} submissions, {len(stale)} to grade, "
          f"{len(submissions) - len(stale)} up to date", flush=True)

    # Decided once per run: refuses here, before any student code runs, if there is no sandbox.
    isolation = sandbox.choose_isolation(unsafe_no_sandbox, bwrap_executable) if stale else None
    threads = max(1, (os.cpu_count() or 1) // workers)
    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(stale), desc=f"grading {track_name}", unit="submission", disable=not interactive)
    echo = bar.write if interactive else (lambda line: print(line, flush=True))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(grade_one, submission_dir, track_name, track, prepared_dir, meta, hidden_y, threads, echo,
                        isolation):
                (submission_dir, content_hash, cache_key)
            for submission_dir, content_hash, cache_key in stale
        }
        for future in as_completed(futures):
            submission_dir, content_hash, cache_key = futures[future]
            result, log_tail = future.result()
            result.update(
                submission=submission_dir.name,
                track=track_name,
                content_hash=content_hash,
                cache_key=cache_key,
                data_fingerprint=data_key,
                schedule=track.schedule.model_dump(),
                graded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            )
            # Written as soon as it arrives: an interrupted run keeps every finished result.
            (results_dir / f"{submission_dir.name}{LOG_SUFFIX}").write_text(log_tail)
            write_json_atomic(results_dir / f"{submission_dir.name}{RESULT_SUFFIX}", result)
            if on_result is not None:
                on_result(result, log_tail)
            accuracy = result.get("test_accuracy")
            shown = f"accuracy {accuracy:.4f}" if accuracy is not None else result["error"]
            echo(f"{track_name}/{submission_dir.name}: {result['status']} ({shown})")
            bar.update(1)
    bar.close()
    return [load_result(results_dir / f"{path.name}{RESULT_SUFFIX}") for path in submissions]
