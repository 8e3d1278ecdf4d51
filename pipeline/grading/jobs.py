"""One sandboxed training job: what goes in, what comes back, and how to run it on this machine.

Grading is (1) training a submission in the sandbox and (2) scoring its predictions against the
hidden labels. Only (1) may run elsewhere (pipeline/grading/executors/), so its inputs and outputs are
plain values that can travel: `TrainingInputs` (public arrays and hidden *inputs*, never hidden
labels) and `TrainingRun` (how the sandbox ended and the files the trainer wrote, as bytes).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from pipeline.config import Subset, Track
from pipeline.data import layout
from pipeline.sandbox import exchange, leftovers
from pipeline.sandbox.isolation import Isolation
from pipeline.sandbox.runner import RunOutcome, run_training

# The files the grader reads from each step. A hostile submission can write anything into its
# output folder: bigger files are ignored (and the result then fails as unreadable), never loaded.
TRAIN_OUTPUT_FILES = (exchange.RESULT_FILE, exchange.PREDICTIONS_FILE, exchange.SUMMARY_FILE,
                      exchange.VAL_PREDICTIONS_FILE, exchange.MODEL_CONFIG_FILE, exchange.WEIGHTS_FILE)
BUILD_OUTPUT_FILES = (exchange.RESULT_FILE, exchange.NOTEBOOK_SOURCE_FILE)
MAX_OUTPUT_BYTES = 64 * 2**20


def take(array: np.ndarray, limit: Optional[int]) -> np.ndarray:
    """The first `limit` items (a track's `subset`), or all of them for None."""
    return array if limit is None else array[:limit]


@dataclass
class TrainingInputs:
    """What every sandbox of a track gets, loaded once per track: never the hidden labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    hidden_x: np.ndarray
    input_shape: list
    num_classes: int

    @classmethod
    def load(cls, prepared_dir: Path, meta: dict, subset: Subset) -> "TrainingInputs":
        """`meta`: the prepared dataset's meta.json (shapes and class count)."""
        public = layout.load_public(prepared_dir)
        hidden_x = np.load(prepared_dir / layout.HIDDEN_X_FILE, mmap_mode="r")
        return cls(
            x_train=take(public["x_train"], subset.train), y_train=take(public["y_train"], subset.train),
            x_val=take(public["x_val"], subset.validation), y_val=take(public["y_val"], subset.validation),
            hidden_x=np.ascontiguousarray(take(hidden_x, subset.hidden)),
            input_shape=list(meta["input_shape"]), num_classes=int(meta["num_classes"]),
        )


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


def write_workdir(workdir: Path, inputs: TrainingInputs, track: Track, threads: int,
                  arrays_dir: Optional[Path] = None) -> None:
    """What the sandbox gets: public arrays, hidden inputs and the job; never hidden labels.

    With `arrays_dir` (written once per run by write_arrays) the arrays are links to its files,
    which the sandbox binds read-only, instead of 55 MB written again for every job (0.2 s each).
    """
    if arrays_dir is None:
        write_arrays(workdir, inputs)
    else:
        for name in ARRAY_FILES:
            (workdir / name).symlink_to(arrays_dir / name)
    job = {
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "input_shape": inputs.input_shape,
        "num_classes": inputs.num_classes,
        "threads": threads,
    }
    (workdir / exchange.JOB_FILE).write_text(json.dumps(job))


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


def _stopped(outcome: RunOutcome) -> bool:
    return outcome.timed_out or outcome.out_of_memory or outcome.too_many_processes or outcome.out_of_disk


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


def run_in_sandbox(submission_dir: Path, inputs: TrainingInputs, track: Track, threads: int,
                   isolation: Isolation, on_line: Optional[Callable[[str], None]] = None,
                   on_training: Optional[Callable[[], None]] = None,
                   arrays_dir: Optional[Path] = None) -> TrainingRun:
    """Build, then train one submission with the track's schedule (and seed), each step in its own
    sandbox on this machine: student code runs in the build step only (see sandbox/trainer/).

    The train step starts together with the build step, so its imports and array loading overlap
    the build; it waits for control/go (or control/stop) before it reads the built model. The
    wall-time limit covers both steps together. `on_training()` is called once the build step
    succeeded and the train step goes on (both processes have done their imports by then).
    `arrays_dir`: the run's arrays, written once (write_arrays); without it, each job writes its own.
    """
    with tempfile.TemporaryDirectory(prefix=leftovers.scratch_prefix(submission_dir.name)) as scratch:
        workdir = Path(scratch)
        write_workdir(workdir, inputs, track, threads, arrays_dir)
        # Both steps start at once and bind these, so they must exist before either starts.
        control = workdir / exchange.CONTROL_DIR
        for folder in (control, workdir / exchange.BUILD_DIR, workdir / exchange.OUT_DIR):
            folder.mkdir()
        seed = track.schedule.seed
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="train-step") as side:
            training = side.submit(run_training, "train", submission_dir, workdir, track.limits, threads, seed,
                                   isolation=isolation, on_line=on_line)
            build_ok = False
            try:
                build = run_training("build", submission_dir, workdir, track.limits, threads, seed,
                                     isolation=isolation, on_line=on_line)
                built = collect_outputs(workdir / exchange.BUILD_DIR, BUILD_OUTPUT_FILES)
                build_ok = not _stopped(build) and _parse_status(built.get(exchange.RESULT_FILE)) == "ok"
            finally:
                # Whatever happened (an interrupt too), the waiting train step gets its word.
                (control / (exchange.GO_FILE if build_ok else exchange.STOP_FILE)).touch()
            if build_ok and on_training is not None:
                on_training()
            train = training.result()
        if not build_ok:
            return TrainingRun(build, built)
        outputs = collect_outputs(workdir / exchange.OUT_DIR, TRAIN_OUTPUT_FILES)
        if exchange.NOTEBOOK_SOURCE_FILE in built:
            outputs[exchange.NOTEBOOK_SOURCE_FILE] = built[exchange.NOTEBOOK_SOURCE_FILE]
        return TrainingRun(combine_outcomes(build, train, track.limits.log_tail_bytes), outputs)
