"""One sandboxed training job on this machine: its two steps (SandboxPair), what goes in and what comes back.

Grading is (1) training a submission in the sandbox and (2) scoring its predictions against the
hidden labels. Only (1) may run elsewhere (pipeline/grading/executors/), so its inputs and outputs are
plain values that can travel: `TrainingInputs` (public arrays and hidden *inputs*, never hidden
labels) and `TrainingRun` (how the sandbox ended and the files the trainer wrote, as bytes).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from pipeline import atomic
from pipeline.config import Track
from pipeline.sandbox import exchange, leftovers
from pipeline.sandbox.isolation import Isolation
from pipeline.sandbox.runner import run_training
from pipeline.sandbox.supervise import HandOver, RunOutcome

# The files the grader reads from each step. A hostile submission can write anything into its
# output folder: bigger files are ignored (and the result then fails as unreadable), never loaded.
TRAIN_OUTPUT_FILES = (exchange.RESULT_FILE, exchange.PREDICTIONS_FILE, exchange.SUMMARY_FILE,
                      exchange.VAL_PREDICTIONS_FILE, exchange.MODEL_CONFIG_FILE, exchange.WEIGHTS_FILE)
BUILD_OUTPUT_FILES = (exchange.RESULT_FILE, exchange.NOTEBOOK_SOURCE_FILE)
MAX_OUTPUT_BYTES = 64 * 2**20
# Where a spare sandbox pair gets its submission's files (shown read-only at /submission).
SUBMISSION_SLOT = "submission"


@dataclass
class TrainingInputs:
    """What every sandbox of a track gets, loaded once per track (grading.jobs.load_inputs): never the hidden labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    hidden_x: np.ndarray
    input_shape: list
    num_classes: int


@dataclass
class TrainingRun:
    """How one sandboxed training ended, wherever it ran.

    `outcome` is None when every attempt was lost with its worker (Ray): it never finished.
    """

    outcome: Optional[RunOutcome]
    outputs: dict[str, bytes]  # out/ file name -> content, for the files in OUTPUT_FILES that exist
    node: str = field(default_factory=socket.gethostname)
    lost_attempts: list[str] = field(default_factory=list)  # attempts whose worker was lost, and why
    lost_seconds: float = 0.0  # time spent on lost attempts when none finished


ARRAY_FILES = (exchange.PUBLIC_FILE, exchange.HIDDEN_X_FILE)


def write_arrays(folder: Path, inputs: TrainingInputs) -> None:
    """The public arrays and hidden inputs as the trainer reads them (never hidden labels)."""
    np.savez(folder / exchange.PUBLIC_FILE, x_train=inputs.x_train, y_train=inputs.y_train,
             x_val=inputs.x_val, y_val=inputs.y_val)
    np.save(folder / exchange.HIDDEN_X_FILE, inputs.hidden_x)
    for name in ARRAY_FILES:
        (folder / name).chmod(0o444)


def link_or_write_arrays(workdir: Path, inputs: TrainingInputs, arrays_dir: Optional[Path]) -> None:
    """The arrays in the scratch folder: links to the run's copy (write_arrays, once per run; the
    sandbox binds them read-only) instead of 55 MB written again for every job (0.2 s each)."""
    if arrays_dir is None:
        write_arrays(workdir, inputs)
    else:
        for name in ARRAY_FILES:
            (workdir / name).symlink_to(arrays_dir / name)


def write_job(workdir: Path, inputs: TrainingInputs, track: Track, threads: int) -> None:
    """The two steps' jobs, each written whole at once (a step may already be waiting for it):
    the build step's holds the input shape and class count only."""
    build_job = {"input_shape": inputs.input_shape, "num_classes": inputs.num_classes}
    atomic.write_json(workdir / exchange.BUILD_CONTROL_DIR / exchange.JOB_FILE, build_job)
    job = {
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "input_shape": inputs.input_shape,
        "num_classes": inputs.num_classes,
        "threads": threads,
    }
    atomic.write_json(workdir / exchange.CONTROL_DIR / exchange.JOB_FILE, job)


def collect_outputs(out_dir: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    outputs = {}
    for name in names:
        path = out_dir / name
        try:
            # Regular files only: a symlink planted by the submission must not make us read elsewhere.
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_OUTPUT_BYTES:
                outputs[name] = path.read_bytes()
        except OSError:
            pass
    return outputs


def _parse_status(content: Optional[bytes]) -> Optional[str]:
    try:
        value = json.loads(content) if content is not None else None
    except ValueError:
        return None
    return value.get("status") if isinstance(value, dict) else None


def combine_outcomes(build: RunOutcome, train: RunOutcome, log_tail_bytes: int) -> RunOutcome:
    """One outcome for the two steps, which ran side by side: the train step's ending and time
    (it started with the build step and waited for it), both logs, the peaks."""
    log = f"{build.log_tail.rstrip()}\n{train.log_tail}" if build.log_tail.strip() else train.log_tail
    if len(log) > log_tail_bytes:  # the two tails together keep the track's log size
        dropped = len(log) - log_tail_bytes
        log = f"[gradebench: {dropped:,} earlier bytes of output were dropped]\n{log[-log_tail_bytes:]}"
    peaks = [peak for peak in (build.peak_memory_mb, train.peak_memory_mb) if peak is not None]
    return dataclasses.replace(
        train, wall_seconds=max(build.wall_seconds, train.wall_seconds), log_tail=log,
        peak_rss_mb=max(build.peak_rss_mb, train.peak_rss_mb), peak_memory_mb=max(peaks) if peaks else None)


class SandboxPair:
    """One job's two sandboxed steps, build and train, started together in one scratch folder.

    Student code runs in the build step only (see sandbox/trainer/). The train step starts with
    the build step, so its imports and array loading overlap the build; it waits for control/go
    (or control/stop) before it reads the built model. The wall-time limit covers both together.

    Started with a submission (`submission_dir`), the pair runs it at once. Started without one,
    it is a spare: both steps import TensorFlow and wait, so that this cost overlaps the previous
    job; `start_job` then copies the submission into the folder the sandbox shows at /submission,
    writes the job, and starts the wall clock (supervise.HandOver).
    """

    def __init__(self, inputs: TrainingInputs, track: Track, threads: int, isolation: Isolation,
                 arrays_dir: Optional[Path] = None, submission_dir: Optional[Path] = None):
        self.inputs, self.track, self.threads = inputs, track, threads
        label = submission_dir.name if submission_dir is not None else "spare"
        self._scratch = tempfile.TemporaryDirectory(prefix=leftovers.scratch_prefix(label))
        self.workdir = Path(self._scratch.name)
        # Both steps bind these when they start, so they must exist before either starts.
        for folder in (exchange.CONTROL_DIR, exchange.BUILD_CONTROL_DIR, exchange.BUILD_DIR, exchange.OUT_DIR):
            (self.workdir / folder).mkdir()
        if submission_dir is None:
            (self.workdir / SUBMISSION_SLOT).mkdir()
        link_or_write_arrays(self.workdir, inputs, arrays_dir)
        self.hand_over = None if submission_dir is not None else HandOver()
        self._on_line: Optional[Callable[[str], None]] = None
        if submission_dir is not None:
            write_job(self.workdir, inputs, track, threads)
        shown = submission_dir if submission_dir is not None else self.workdir / SUBMISSION_SLOT
        self._steps = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-step")
        self._train, self._build = (
            self._steps.submit(run_training, step, shown, self.workdir, track.limits, threads, track.schedule.seed,
                               isolation=isolation, on_line=self._echo, hand_over=self.hand_over)
            for step in ("train", "build"))

    def _echo(self, line: str) -> None:
        if self._on_line is not None:
            self._on_line(line)

    def fits(self, track: Track, threads: int) -> bool:
        """Whether this spare was started for a job of this track (its seed and limits are set at start)."""
        return (self.hand_over is not None and self.hand_over.at is None and threads == self.threads
                and track.limits == self.track.limits and track.schedule.seed == self.track.schedule.seed)

    def start_job(self, submission_dir: Path, track: Track) -> None:
        """Hand a spare its submission: a copy of its files (links stay links) at /submission."""
        shutil.copytree(submission_dir, self.workdir / SUBMISSION_SLOT, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.track = track
        write_job(self.workdir, self.inputs, track, self.threads)
        self.hand_over.give()

    def finish(self, on_line: Optional[Callable[[str], None]] = None,
               on_training: Optional[Callable[[], None]] = None) -> TrainingRun:
        """Wait for the job; `on_training()` once the build succeeded and the train step goes on."""
        self._on_line = on_line
        control = self.workdir / exchange.CONTROL_DIR
        try:
            build_ok = False
            built: dict[str, bytes] = {}
            try:
                build = self._build.result()
                built = collect_outputs(self.workdir / exchange.BUILD_DIR, BUILD_OUTPUT_FILES)
                build_ok = not build.stopped and _parse_status(built.get(exchange.RESULT_FILE)) == "ok"
            finally:
                # Whatever happened (an interrupt too), the waiting train step gets its word.
                (control / (exchange.GO_FILE if build_ok else exchange.STOP_FILE)).touch()
            if build_ok and on_training is not None:
                on_training()
            train = self._train.result()
            if not build_ok:
                return TrainingRun(build, built)
            outputs = collect_outputs(self.workdir / exchange.OUT_DIR, TRAIN_OUTPUT_FILES)
            if exchange.NOTEBOOK_SOURCE_FILE in built:
                outputs[exchange.NOTEBOOK_SOURCE_FILE] = built[exchange.NOTEBOOK_SOURCE_FILE]
            return TrainingRun(combine_outcomes(build, train, self.track.limits.log_tail_bytes), outputs)
        finally:
            self._close()

    def cancel(self) -> None:
        """Stop a spare that was never handed a job."""
        for control in (exchange.CONTROL_DIR, exchange.BUILD_CONTROL_DIR):
            (self.workdir / control / exchange.STOP_FILE).touch()
        if self.hand_over is not None:
            self.hand_over.cancel()
        for step in (self._build, self._train):
            try:
                step.result()
            except Exception:  # noqa: BLE001 - a spare that failed to start has nothing to stop
                pass
        self._close()

    def _close(self) -> None:
        self._steps.shutdown(wait=True)  # after a failure too: the train step has its word and ends
        self._scratch.cleanup()
