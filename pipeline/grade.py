"""The grade stage of one track: find stale submissions, train each in a sandbox, score it.

A result is stale when its cache key changed: the hash of the submission folder, the track's
schedule, limits and subset, the prepared data and the grader's own code. So one edited
`model.py` re-trains alone, a new folder is picked up without a roster, and a new schedule
re-grades the whole track. Hidden labels never leave this (trusted) process.

Scoring follows Kaggle: the hidden split is divided (stratified, seeded: leaderboard.hidden_split)
into a public and a private part, and each result carries both accuracies besides the full one.
With `seeds` > 1 a submission trains once per seed and its result holds the mean and spread.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import signal
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from pipeline import (duplicates, executors, hashing, jobs, preprocess, sandbox, seeds, splits, status,
                      submission_meta)
from pipeline import workdir as files
from pipeline.config import Grading, HiddenSplit, Track

# A change to any of these changes results, so it invalidates every cached result. (feedback.py
# is left out on purpose: restyling a plot should not re-train a course's worth of models.)
GRADER_CODE = [
    Path(__file__).parent / name
    for name in ("train.py", "submission.py", "sandbox.py", "grade.py", "workdir.py", "status.py",
                 "splits.py", "seeds.py", "duplicates.py", "submission_meta.py", "jobs.py", "executors.py",
                 "cgroups.py")
]
FEEDBACK_DIR = "feedback"    # results/<track>/feedback/<id>/: curves and images
CONFUSION_DIR = "confusion"  # results/<track>/confusion/<id>.csv: validation confusion data
RESULT_SUFFIX = ".json"
LOG_SUFFIX = ".log"
NOTEBOOK_SOURCE_KEY = "_notebook_source"  # judge -> grade_track only


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


def grader_fingerprint() -> str:
    """The grading code's own hash: `rerun` compares it to say whether the code is the same."""
    return hashing.json_sha256([hashing.file_sha256(path) for path in GRADER_CODE])


def track_fingerprint(track: Track, data_key: str, hidden_split: HiddenSplit = HiddenSplit()) -> str:
    """Everything besides the submission itself that a result depends on."""
    return hashing.json_sha256({
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "subset": track.subset.model_dump(),
        "seeds": track.seeds,
        "hidden_split": hidden_split.model_dump(),
        "data": data_key,
        "grader": grader_fingerprint(),
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
                                                             f"of at most {jobs.MAX_OUTPUT_BYTES // 2**20} MB"}
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
              "predictions_sha256": hashing.bytes_sha256(np.ascontiguousarray(predictions).tobytes())}
    if parts is not None:
        public, private = parts
        scores["public_accuracy"] = float(np.mean(correct[public]))
        scores["private_accuracy"] = float(np.mean(correct[private]))
    return {**result, **scores}


def _echo_progress(echo, label: str, line: str) -> None:
    """Show the trainer's own lines (epochs, status); TensorFlow's start-up noise stays in the log."""
    if line.startswith(files.LOG_PREFIX):
        echo(f"  {label}: {line[len(files.LOG_PREFIX):]}")


def judge(run: jobs.TrainingRun, track: Track, data: "TrackData") -> dict:
    """Turn a finished (or lost) training into a result: status, error and, if it ran, the scores."""
    outcome = run.outcome
    if outcome is None:  # every attempt died with its worker: nothing the submission did
        return {"status": status.CRASHED, "wall_seconds": run.lost_seconds,
                "error": f"the worker training it was lost {len(run.lost_attempts)} time(s) "
                         f"(grading.ray.max_retries = {len(run.lost_attempts) - 1}); last: {run.lost_attempts[-1]}"}
    result = _parse_json(run.outputs.get(files.RESULT_FILE))
    if not isinstance(result, dict) or result.get("status") not in status.ALL:
        result = None  # missing, or garbled by the submission itself
    stopped = outcome.timed_out or outcome.out_of_memory or outcome.too_many_processes
    if result is None or stopped:
        code, message = outcome_failure(outcome, track)
        result = {**(result or {}), "status": code, "error": message}
    elif result["status"] == status.OK:
        result = score(result, run.outputs.get(files.PREDICTIONS_FILE), data.hidden_y,
                       data.inputs.num_classes, data.parts)
    summary = run.outputs.get(files.SUMMARY_FILE)
    notebook_source = run.outputs.get(files.NOTEBOOK_SOURCE_FILE)
    if notebook_source is not None:  # saved beside the log by grade_track, never published
        result[NOTEBOOK_SOURCE_KEY] = notebook_source.decode("utf-8", "replace")
    result["model_summary"] = summary.decode("utf-8", "replace") if summary is not None else None
    if result.get("error"):
        result["error"] = status.one_line(str(result["error"]))
    result.update(wall_seconds=outcome.wall_seconds, peak_rss_mb=outcome.peak_rss_mb,
                  peak_memory_mb=outcome.peak_memory_mb, sandboxed=outcome.sandboxed)
    return result


def _parse_json(content: Optional[bytes]):
    try:
        return json.loads(content) if content is not None else None
    except ValueError:
        return None


def grade_one(submission_dir: Path, track_name: str, track: Track, data: "TrackData", executor, echo,
              keep: Optional[dict] = None) -> tuple[dict, str]:
    """Train (with the schedule's seed, wherever `executor` runs it) and score one submission;
    every outcome becomes a result dict, never an exception. `keep`: receives the trainer's
    validation outputs and model JSON (file name -> bytes, for feedback).

    Only a failure of the grader itself (the sandbox or the executor could not start) raises.
    """
    # A submission "folder" that is a link to the project would hand the sandbox the hidden labels.
    resolved, prepared = submission_dir.resolve(), data.prepared_dir.resolve()
    if resolved == prepared or resolved in prepared.parents:
        result = {"status": status.INVALID, "wall_seconds": 0.0,
                  "error": "the submission folder links to the project's own folders: submit a plain folder "
                           "holding model.py"}
        return result, ""
    try:
        run = executor.train(submission_dir, track,
                             on_line=lambda line: _echo_progress(echo, f"{track_name}/{submission_dir.name}", line))
    except executors.SubmissionTooLarge as error:
        return {"status": status.INVALID, "wall_seconds": 0.0, "error": str(error)}, ""
    result = judge(run, track, data)
    if keep is not None:
        keep.update({name: run.outputs[name] for name in (files.VAL_PREDICTIONS_FILE, files.MODEL_CONFIG_FILE)
                     if name in run.outputs})
    if executor.name != "local":
        result.update(executor=executor.name, node=run.node)
    if run.lost_attempts:
        result["lost_attempts"] = run.lost_attempts
    log_tail = run.outcome.log_tail if run.outcome is not None else "\n".join(run.lost_attempts)
    return result, log_tail


def with_seed(track: Track, seed: int) -> Track:
    return track.model_copy(update={"schedule": track.schedule.model_copy(update={"seed": seed})})


@dataclass
class TrackData:
    """What grading a track needs besides the submissions, loaded once per run."""

    prepared_dir: Path
    meta: dict
    inputs: jobs.TrainingInputs  # what every sandbox gets (the track's subset applied)
    hidden_y: np.ndarray  # the (subset's) hidden labels: stay in this process
    parts: tuple[np.ndarray, np.ndarray]  # public and private indices of hidden_y

    @classmethod
    def load(cls, prepared_dir: Path, track: Track, hidden_split: HiddenSplit) -> "TrackData":
        meta = preprocess.load_meta(prepared_dir)
        hidden_y = jobs.take(np.load(prepared_dir / preprocess.HIDDEN_Y_FILE), track.subset.hidden)
        return cls(prepared_dir, meta, jobs.TrainingInputs.load(prepared_dir, meta, track.subset),
                   hidden_y, public_private_parts(hidden_y, hidden_split))


def grade_submission(submission_dir: Path, track_name: str, track: Track, data: TrackData, executor,
                     echo, feedback_dir: Optional[Path]) -> tuple[dict, str]:
    """Grade one submission with every seed of the track, combine, and write its feedback."""
    per_seed, logs = [], []
    first: dict = {}  # the first seed's validation outputs and model JSON
    for seed in track.seed_list():
        result, log_tail = grade_one(submission_dir, track_name, with_seed(track, seed), data, executor, echo,
                                     keep=first if not per_seed else None)
        per_seed.append(result)
        logs.append(log_tail if track.seeds == 1 else f"===== seed {seed} =====\n{log_tail}")
        if result["status"] != status.OK:
            break  # the submission fails with this seed; the others would not change that
    combined = seeds.combine(track.seed_list(), per_seed)
    model_json = first.get(files.MODEL_CONFIG_FILE)
    if model_json is not None and len(model_json) <= duplicates.MAX_CONFIG_BYTES:
        model_json = model_json.decode("utf-8", "replace")
    else:
        model_json = None
    combined["architecture_hash"] = duplicates.architecture_hash(model_json)
    if feedback_dir is not None:
        from pipeline import feedback  # matplotlib: only when plotting (cmd_grade warms it up meanwhile)

        val_outputs = _load_array(first.get(files.VAL_PREDICTIONS_FILE))
        confusion_path = feedback_dir.parent.parent / CONFUSION_DIR / f"{submission_dir.name}.csv"
        written = feedback.write_feedback(feedback_dir, confusion_path, f"{track_name}/{submission_dir.name}",
                                          combined.get("history"), data.inputs.x_val, data.inputs.y_val,
                                          val_outputs, data.meta["class_names"])
        combined["feedback_files"] = [path.relative_to(feedback_dir.parent.parent).as_posix() for path in written]
    return combined, "\n".join(logs)


def _load_array(content: Optional[bytes]) -> Optional[np.ndarray]:
    if content is None:
        return None
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def describe_submission(submission_dir: Path) -> tuple[dict, Optional[str]]:
    """Trusted facts about a submission (meta.yaml, submission time, source fingerprint), and the
    meta.yaml problem that makes it invalid, if any."""
    when, how = submission_meta.submitted_at(submission_dir)
    facts = {"submitted_at": when, "submitted_at_source": how,
             "source_hash": duplicates.source_hash(submission_dir)}
    try:
        meta = submission_meta.load_meta(submission_dir)
    except submission_meta.MetaError as error:
        return {**facts, "baseline": False, "student_id": submission_dir.name}, str(error)
    return {**facts, "baseline": meta.baseline, "student_id": meta.student_id or submission_dir.name}, None


def grade_track(track_name: str, track: Track, submissions_dir: Path, prepared_dir: Path,
                results_dir: Path, grading: Grading, on_result=None, on_start=None,
                bwrap_executable: str = sandbox.DEFAULT_BWRAP,
                hidden_split: HiddenSplit = HiddenSplit()) -> list[dict]:
    """Grade every stale submission of one track; return all current results.

    `grading` says where trainings run (grading.executor: local workers or Ray) and whether the
    sandbox may be skipped. `on_result(result, log_tail, results_dir)` is called as each result
    arrives (MLflow logging; the result's `feedback_files` are relative to results_dir);
    `on_start()` once the trainings are under way (not called when nothing is stale).
    Raises sandbox.SandboxUnavailable (before running anything) when bubblewrap cannot isolate
    submissions and grading.unsafe_no_sandbox (or --unsafe-no-sandbox) is off.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    data_key = data_fingerprint(prepared_dir)
    track_key = track_fingerprint(track, data_key, hidden_split)
    grader_key = grader_fingerprint()  # the code does not change during a run: hash it once
    submissions = list_submissions(submissions_dir)
    feedback_root = results_dir / FEEDBACK_DIR

    # Results of deleted submissions would linger on the leaderboard: remove them.
    current_ids = {path.name for path in submissions}
    for old in results_dir.glob(f"*{RESULT_SUFFIX}"):
        if old.stem not in current_ids:
            old.unlink()
            old.with_suffix(LOG_SUFFIX).unlink(missing_ok=True)
    if feedback_root.is_dir():
        for old in feedback_root.iterdir():
            if old.name not in current_ids:
                shutil.rmtree(old, ignore_errors=True)
    for old in (results_dir / CONFUSION_DIR).glob("*.csv"):
        if old.stem not in current_ids:
            old.unlink()

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

    if stale:
        # The arrays are loaded only when something trains (a run with nothing stale stays cheap).
        data = TrackData.load(prepared_dir, track, hidden_split)
        # Decided once per run: a local executor refuses here, before any student code runs, without
        # a sandbox; on Ray every node decides for itself.
        executor = executors.make_executor(grading, data.inputs, grading.unsafe_no_sandbox, bwrap_executable,
                                           grader_key)
        try:
            _grade_stale(track_name, track, data, stale, executor, results_dir, on_result, on_start, {
                "data_fingerprint": data_key, "grader_fingerprint": grader_key, "threads": executor.threads,
                "schedule": track.schedule.model_dump(),
                # Everything needed to grade this entry again exactly (`python -m pipeline rerun`).
                "grading_config": {"track": track.model_dump(), "hidden_split": hidden_split.model_dump()},
            })
        finally:
            executor.close()
    return [load_result(results_dir / f"{path.name}{RESULT_SUFFIX}") for path in submissions]


def _grade_stale(track_name: str, track: Track, data: TrackData, stale: list, executor, results_dir: Path,
                 on_result, on_start, provenance: dict) -> None:
    """Grade the stale submissions, `executor.workers` at a time; write each result as it arrives."""
    feedback_root = results_dir / FEEDBACK_DIR
    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(stale), desc=f"grading {track_name}", unit="submission", disable=not interactive)
    echo = bar.write if interactive else (lambda line: print(line, flush=True))
    # Per-epoch lines only on a terminal; logs (CI, nohup) get one line per finished submission.
    epoch_echo = echo if interactive else (lambda line: None)

    def grade_stale(submission_dir: Path) -> tuple[dict, str]:
        facts, meta_problem = describe_submission(submission_dir)
        if meta_problem:
            return {**facts, "status": status.INVALID, "error": meta_problem, "wall_seconds": 0.0}, ""
        result, log_tail = grade_submission(submission_dir, track_name, track, data, executor, epoch_echo,
                                            feedback_root / submission_dir.name)
        return {**result, **facts}, log_tail

    finished = 0
    pool = ThreadPoolExecutor(max_workers=executor.workers)
    try:
        futures = {
            pool.submit(grade_stale, submission_dir): (submission_dir, content_hash, cache_key)
            for submission_dir, content_hash, cache_key in stale
        }
        if on_start is not None:
            on_start()
        for future in as_completed(futures):
            submission_dir, content_hash, cache_key = futures[future]
            result, log_tail = future.result()
            result.update(
                submission=submission_dir.name,
                track=track_name,
                content_hash=content_hash,
                cache_key=cache_key,
                # threads: TensorFlow's thread count can change float sums, so rerun uses the same.
                **provenance,
                graded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            )
            # Written as soon as it arrives: an interrupted run keeps every finished result.
            (results_dir / f"{submission_dir.name}{LOG_SUFFIX}").write_text(log_tail)
            notebook_source = result.pop(NOTEBOOK_SOURCE_KEY, None)
            if notebook_source is not None:  # what was graded from model.ipynb, for the student
                (results_dir / f"{submission_dir.name}.{files.NOTEBOOK_SOURCE_FILE}").write_text(notebook_source)
            write_json_atomic(results_dir / f"{submission_dir.name}{RESULT_SUFFIX}", result)
            if on_result is not None:
                on_result(result, log_tail, results_dir)
            accuracy = result.get("public_accuracy")
            spread = f" ± {result['public_accuracy_std']:.4f}" if result.get("public_accuracy_std") is not None else ""
            shown = f"public accuracy {accuracy:.4f}{spread}" if accuracy is not None else result["error"]
            finished += 1
            bar.update(1)
            echo(f"[{finished}/{len(stale)}] {track_name}/{submission_dir.name}: {result['status']} ({shown})")
    finally:
        # On an interrupt do not wait for the trainings in flight: every finished result is already
        # written, and the sandboxes (and Ray tasks) die with this process.
        pool.shutdown(wait=False, cancel_futures=True)
    bar.close()
