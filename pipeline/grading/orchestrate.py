"""The grade stage of one track: find the stale submissions, train each (wherever the executor
runs it), score it, and write its result as it arrives.

    grade_track                  one track: the cache check, then the stale submissions in parallel
      train_every_seed           one submission: every seed of the track, combined (a worker thread)
        train_and_score          one training (one seed) and its trusted scoring
      write_feedback             its feedback files (the main thread, as results arrive), drawn by
                                 the `draw_feedback` the command layer passes in (reporting's plots,
                                 in a worker process: the main thread reads the other submissions'
                                 results meanwhile)

Hidden labels never leave this (trusted) process. With `seeds` > 1 a submission trains once per
seed and its result holds the mean and spread (seeds.py).
"""

from __future__ import annotations

import datetime
import io
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from tqdm import tqdm

from pipeline import status
from pipeline.config import GradingSettings, HiddenSplit, Track
from pipeline.cores import usable_cores
from pipeline.grading import duplicates, executors, fingerprints, ordering, results_index, seeds, submission_facts
from pipeline.grading.cache import ResultCache, StaleSubmission, list_submissions
from pipeline.grading.record import Result
from pipeline.grading.scoring import TrackData, judge
from pipeline.sandbox import exchange


@dataclass(frozen=True)
class TrackJob:
    """One track's grading: what to grade, with which data, and where results go."""

    name: str
    track: Track
    submissions_dir: Path
    prepared_dir: Path
    results_dir: Path
    hidden_split: HiddenSplit = HiddenSplit()
    feedback_dir: Optional[Path] = None  # feedback/<track>/ (None: results_dir/feedback)


def _echo_progress(echo, label: str, line: str) -> None:
    """Show the trainer's own lines (epochs, status); TensorFlow's start-up noise stays in the log."""
    if line.startswith(exchange.LOG_PREFIX):
        echo(f"  {label}: {line[len(exchange.LOG_PREFIX):]}")


def with_seed(track: Track, seed: int) -> Track:
    return track.model_copy(update={"schedule": track.schedule.model_copy(update={"seed": seed})})


def train_and_score(submission_dir: Path, label: str, track: Track, data: TrackData, executor, echo,
                    keep: Optional[dict] = None, on_training: Optional[Callable[[], None]] = None) -> tuple[dict, str]:
    """Train (with the schedule's seed, wherever `executor` runs it) and score one submission;
    every outcome becomes a result dict, never an exception. `keep`: receives the trainer's
    validation outputs and model JSON (file name -> bytes, for feedback). `on_training()`: called
    when its training starts (after a successful build).

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
        run = executor.train(submission_dir, track, on_line=lambda line: _echo_progress(echo, label, line),
                             on_training=on_training)
    except executors.SubmissionTooLarge as error:
        return {"status": status.INVALID, "wall_seconds": 0.0, "error": str(error)}, ""
    result = judge(run, track, data)
    if keep is not None:
        keep.update({name: run.outputs[name] for name in (exchange.VAL_PREDICTIONS_FILE, exchange.MODEL_CONFIG_FILE,
                                                          exchange.NOTEBOOK_SOURCE_FILE)
                     if name in run.outputs})
    if executor.name != "local":
        result.update(executor=executor.name, node=run.node)
    if run.lost_attempts:
        result["lost_attempts"] = run.lost_attempts
    log_tail = run.outcome.log_tail if run.outcome is not None else "\n".join(run.lost_attempts)
    return result, log_tail


@dataclass(frozen=True)
class FeedbackTarget:
    """Where one submission's feedback goes: feedback/<track>/<id>/ and its confusion CSV."""

    folder: Path
    confusion_path: Path
    results_dir: Path    # the graded notebook code goes here, beside the log
    feedback_root: Path  # feedback_files are recorded relative to this


def train_every_seed(submission_dir: Path, track_name: str, track: Track, data: TrackData, executor, echo,
                     on_training: Optional[Callable[[], None]] = None) -> tuple[dict, str, dict]:
    """Train and score one submission with every seed of the track, combined; returns the
    combined result, the log and the first seed's outputs (validation predictions, model JSON)."""
    label = f"{track_name}/{submission_dir.name}"
    per_seed, logs = [], []
    first: dict = {}  # the first seed's validation outputs and model JSON
    for seed in track.seed_list():
        result, log_tail = train_and_score(submission_dir, label, with_seed(track, seed), data, executor, echo,
                                           keep=first if not per_seed else None, on_training=on_training)
        per_seed.append(result)
        logs.append(log_tail if track.seeds == 1 else f"===== seed {seed} =====\n{log_tail}")
        if result["status"] != status.OK:
            break  # the submission fails with this seed; the others would not change that
    combined = seeds.combine(track.seed_list(), per_seed)
    model_json = first.get(exchange.MODEL_CONFIG_FILE)
    if model_json is not None and len(model_json) <= duplicates.MAX_CONFIG_BYTES:
        model_json = model_json.decode("utf-8", "replace")
    else:
        model_json = None
    combined["architecture_hash"] = duplicates.architecture_hash(model_json)
    return combined, "\n".join(logs), first


# draw_feedback(folder, confusion_path, title, history, x_val, y_val, val_outputs, class_names) ->
# a Future of the paths it wrote: reporting's plots, handed in by the command layer (grading sits
# below reporting), drawn wherever it chooses (a worker process, or at once).
DrawFeedback = Callable[..., "Future[list[Path]]"]


def write_feedback(feedback: FeedbackTarget, submission_id: str, track_name: str, combined: dict, first: dict,
                   data: TrackData, draw_feedback: Optional[DrawFeedback]) -> Optional[Future]:
    """The submission's feedback files (the graded notebook code; plots and confusion data when
    `draw_feedback` is given); returns the drawing under way (None: nothing drawn), whose paths
    `record_feedback` puts in `combined["feedback_files"]`."""
    notebook_source = first.get(exchange.NOTEBOOK_SOURCE_FILE)
    if notebook_source is not None:
        # What was graded from model.ipynb, beside the log, so the student sees it.
        (feedback.results_dir / f"{submission_id}.{exchange.NOTEBOOK_SOURCE_FILE}").write_bytes(notebook_source)
    if draw_feedback is None:
        return None
    val_outputs = _load_array(first.get(exchange.VAL_PREDICTIONS_FILE))
    # Titled by track only: the course site publishes these images on the student's page as they are.
    return draw_feedback(feedback.folder, feedback.confusion_path, track_name, combined.get("history"),
                         data.inputs.x_val, data.inputs.y_val, val_outputs, data.meta["class_names"])


def record_feedback(drawing: Future, feedback_root: Path, combined: dict) -> None:
    """Wait for the drawing; record what it wrote (relative to `feedback_root`) in `combined`."""
    combined["feedback_files"] = [path.relative_to(feedback_root).as_posix() for path in drawing.result()]


def _load_array(content: Optional[bytes]) -> Optional[np.ndarray]:
    if content is None:
        return None
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def grade_track(job: TrackJob, settings: GradingSettings, on_result: Optional[Callable] = None,
                on_start: Optional[Callable] = None,
                draw_feedback: Optional[DrawFeedback] = None) -> list[Optional[Result]]:
    """Grade every stale submission of one track; return all current results.

    `settings` say where trainings run (local workers or Ray) and the isolation policy.
    `on_result(result, log_tail, feedback_dir)` is called as each result arrives (MLflow logging;
    the result's `feedback_files` are relative to feedback_dir); `on_start()` once, when the first
    training is under way (after its build step), or at once when the trainings leave a core
    free (spare_core); not called when nothing trains;
    `draw_feedback` draws each result's plots (None: no plots). Raises SandboxUnavailable (before running
    anything) when bubblewrap cannot isolate submissions and the policy does not allow that.
    """
    # The arrays load on another thread while the submissions are hashed (mostly file reads: both
    # proceed), and are used only when something trains.
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arrays")
    arrays = loader.submit(TrackData.load, job.prepared_dir, job.track, job.hidden_split)
    loader.shutdown(wait=False)
    cache = ResultCache(job.results_dir, job.feedback_dir)
    cache.move_old_feedback()
    data_key = fingerprints.data_fingerprint(job.prepared_dir)
    track_key = fingerprints.track_fingerprint(job.track, data_key, job.hidden_split)
    submissions = list_submissions(job.submissions_dir)
    cache.remove_deleted({path.name for path in submissions})
    stale = cache.stale(submissions, track_key, results_index.known_keys(job.results_dir.parent, job.name))
    print(f"{job.name}: {len(submissions)} submissions, {len(stale)} to grade, "
          f"{len(submissions) - len(stale)} up to date", flush=True)

    graded = {entry.folder.name for entry in stale}
    current: dict[str, Optional[Result]] = {}

    def read_the_others() -> None:
        """The results this run does not change (read while the first plots are drawn)."""
        current.update({path.name: cache.read_current(path) for path in submissions if path.name not in graded})

    if stale:
        _grade_with_data(job, settings, arrays.result(), stale, cache, data_key, on_result, on_start, draw_feedback,
                         _once(read_the_others))
    arrays = None  # the arrays are freed before the rest of the current results are read: a lower peak
    return [current[path.name] if path.name in current else cache.read_current(path) for path in submissions]


def _grade_with_data(job: TrackJob, settings: GradingSettings, data: TrackData, stale: list[StaleSubmission],
                     cache: ResultCache, data_key: str, on_result, on_start,
                     draw_feedback: Optional[DrawFeedback], while_drawing: Callable[[], None]) -> None:
    stale = ordering.batch_order(settings.grading.order, stale, cache, job.track, len(data.inputs.y_train))
    # Decided once per run: a local executor refuses here, before any student code runs, without
    # a sandbox; on Ray every node probes its own bubblewrap under this run's policy.
    executor = executors.make_executor(settings.grading, data.inputs, settings.isolation, job.track.schedule.threads)
    try:
        provenance = {
            "data_fingerprint": data_key, "grader_fingerprint": fingerprints.grader_fingerprint(),
            "threads": executor.threads, "schedule": job.track.schedule.model_dump(),
            # Everything needed to grade this entry again exactly (`python -m pipeline rerun`).
            "grading_config": {"track": job.track.model_dump(), "hidden_split": job.hidden_split.model_dump()},
        }
        _grade_stale(job, data, stale, executor, cache, on_result, on_start, draw_feedback, provenance, while_drawing)
    finally:
        executor.close()


def spare_core(executor, trainings: int, threads: int) -> bool:
    """Whether the trainings leave this machine a core that nothing else wants: a remote executor,
    or fewer local trainings at once (each on `threads` cores) than it has cores."""
    if executor.name != "local":
        return True
    return min(executor.workers, trainings) * threads < usable_cores()


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """`action`, run by the first of any number of calls from any thread."""
    lock, done = threading.Lock(), []

    def run_once() -> None:
        with lock:
            if not done:
                done.append(True)
                action()
    return run_once


def _grade_stale(job: TrackJob, data: TrackData, stale: list[StaleSubmission], executor, cache: ResultCache,
                 on_result, on_start, draw_feedback: Optional[DrawFeedback], provenance: dict,
                 while_drawing: Callable[[], None]) -> None:
    """Grade the stale submissions, `executor.workers` at a time; write each result as it arrives
    (after its plots: a result on disk has its feedback beside it). `while_drawing()`: work for this
    thread while plots are drawn elsewhere."""
    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(stale), desc=f"grading {job.name}", unit="submission", disable=not interactive)
    echo = bar.write if interactive else (lambda line: print(line, flush=True))
    # Per-epoch lines only on a terminal; logs (CI, nohup) get one line per finished submission.
    epoch_echo = echo if interactive else (lambda line: None)

    first_training = _once(on_start) if on_start is not None else None
    # What on_start begins (opening MLflow) waits for the sandboxes' own imports only because it
    # would compete with them for the CPU. With a core free (one resubmission) it begins now, and
    # a short training no longer ends before the store is open.
    if first_training is not None and spare_core(executor, len(stale) * len(job.track.seed_list()),
                                                 job.track.schedule.threads):
        first_training()

    def grade_one_submission(submission_dir: Path) -> tuple[dict, str, Optional[dict]]:
        """On a worker thread: the trainings only. The feedback is drawn by the main thread, so the
        worker hands its next submission to a sandbox at once (the plots are the parent's own CPU
        work, a few tenths of a second, and would otherwise hold up the next training)."""
        facts, meta_problem = submission_facts.describe(submission_dir)
        if meta_problem:
            return {**facts, "status": status.INVALID, "error": meta_problem, "wall_seconds": 0.0}, "", None
        result, log_tail, first = train_every_seed(submission_dir, job.name, job.track, data, executor, epoch_echo,
                                                   on_training=first_training)
        return {**result, **facts}, log_tail, first

    finished = 0
    executor.expect(len(stale) * len(job.track.seed_list()))
    pool = ThreadPoolExecutor(max_workers=executor.workers)
    try:
        futures = {pool.submit(grade_one_submission, entry.folder): entry for entry in stale}
        for future in as_completed(futures):
            entry = futures[future]
            fields, log_tail, first = future.result()
            if first is not None:
                drawing = write_feedback(FeedbackTarget(cache.feedback_dir(entry.folder.name),
                                                        cache.confusion_path(entry.folder.name), cache.results_dir,
                                                        cache.feedback_root),
                                         entry.folder.name, job.name, fields, first, data, draw_feedback)
                if drawing is not None:
                    while_drawing()
                    record_feedback(drawing, cache.feedback_root, fields)
            result = Result.model_validate({
                **fields,
                "submission": entry.folder.name,
                "track": job.name,
                "content_hash": entry.content_hash,
                "cache_key": entry.cache_key,
                **provenance,
                "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            })
            # Written as soon as it arrives: an interrupted run keeps every finished result.
            cache.write(result, log_tail)
            if on_result is not None:
                on_result(result, log_tail, cache.feedback_root)
            spread = f" ± {result.public_accuracy_std:.4f}" if result.public_accuracy_std is not None else ""
            shown = (f"public accuracy {result.public_accuracy:.4f}{spread}" if result.public_accuracy is not None
                     else result.error)
            finished += 1
            bar.update(1)
            echo(f"[{finished}/{len(stale)}] {job.name}/{entry.folder.name}: {result.status} ({shown})")
    finally:
        # On an interrupt do not wait for the trainings in flight: every finished result is already
        # written, and the sandboxes (and Ray tasks) die with this process.
        pool.shutdown(wait=False, cancel_futures=True)
    bar.close()
