"""What both sandboxed steps (build and train) set up the same way: seeds, threads, the arrays."""

from __future__ import annotations

import errno
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, NoReturn, Optional

from pipeline.sandbox.trainer import quiet_logs  # noqa: F401 - first: imports TensorFlow without its start-up noise
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline import atomic, status  # noqa: E402
from pipeline.sandbox.exchange import (  # noqa: E402
    HIDDEN_X_FILE, JOB_FILE, LOG_PREFIX, PUBLIC_FILE, STOP_FILE,
)
from pipeline.sandbox.trainer import contract, errors  # noqa: E402

# Taken when the trainer starts, before any student code is imported: what writes the result and
# ends the process stays the original whatever model.py replaces later.
_write_json, _exit_now = atomic.write_json, os._exit


def read_job(control: Path, poll_seconds: float = 0.01) -> dict:
    """The job in a control folder. A sandbox started ahead of its submission (grading/jobs.py) has
    done its imports by now and waits here until it is handed one; `stop` means it is not needed."""
    while not (control / JOB_FILE).exists():
        if (control / STOP_FILE).exists():
            sys.stdout.flush()
            _exit_now(0)
        time.sleep(poll_seconds)
    return json.loads((control / JOB_FILE).read_text())


def configure_runtime(seed: int, threads: int) -> None:
    """Seed everything and pin thread counts before any TensorFlow op runs, for bit-identical runs.

    (PYTHONHASHSEED is set by the parent in our environment, since it only works at start-up.)
    """
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def scale_inputs(x_train, arrays: list, scaling: str) -> list:
    """Apply the track's input scaling, with statistics from the training set only."""
    if scaling == "unit":
        return [a.astype(np.float32) / np.float32(255.0) for a in arrays]
    mean = np.float32(x_train.mean(dtype=np.float64))
    std = np.float32(x_train.std(dtype=np.float64))
    return [(a.astype(np.float32) - mean) / std for a in arrays]


def load_arrays(workdir: Path, scaling: str):
    """(x_train, y_train, x_val, y_val, x_hidden) with the inputs scaled as the track says."""
    with np.load(workdir / PUBLIC_FILE) as public:
        x_train, y_train, x_val, y_val = (public[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    x_hidden = np.load(workdir / HIDDEN_X_FILE)
    x_train_f, x_val_f, x_hidden_f = scale_inputs(x_train, [x_train, x_val, x_hidden], scaling)
    return x_train_f, y_train, x_val_f, y_val, x_hidden_f


def out_of_memory(limits: Optional[dict], stage: str) -> dict:
    """A MemoryError is out_of_memory, with the track's limit where this step knows it (the build
    step is told nothing but shapes)."""
    allowed = f": this track allows {limits['memory_mb']} MB (limits.memory_mb)" if limits else ""
    return {"status": status.OUT_OF_MEMORY,
            "error": f"ran out of memory while {stage}{allowed}; make the model or the arrays it creates smaller"}


def out_of_disk(limits: Optional[dict]) -> dict:
    allowed = f"this track's limit of {limits['disk_mb']} MB" if limits else "this track's limit"
    return {"status": status.OUT_OF_DISK,
            "error": f"wrote more than {allowed} of files (limits.disk_mb): do not write files in model.py"}


def run_and_exit(step: Callable[[], dict], control: Path, result_path: Path, stage: str) -> NoReturn:
    """Run one step, turn every way it can end into a result, write it, and exit at once.

    Exiting with os._exit right after the write means no atexit hook or finaliser registered by
    model.py runs afterwards (one could otherwise rewrite the result).
    """
    try:
        result = step()
    except MemoryError:
        result = out_of_memory(read_job(control).get("limits"), stage)
    except OSError as error:
        if error.errno == errno.ENOSPC:  # the scratch space is full
            result = out_of_disk(read_job(control).get("limits"))
        else:
            traceback.print_exc()
            result = {"status": status.CRASHED, "error": f"the submission failed: {contract.describe_error(error)}"}
    except Exception as error:  # noqa: BLE001 - e.g. the model fails on its first batch
        traceback.print_exc()
        result = {"status": status.CRASHED, "error": f"the submission failed: {contract.describe_error(error)}"}
    if result.get("error"):
        result["error"] = status.one_line(errors.scrub(result["error"]))
        print(f"{LOG_PREFIX}{result['status']}: {result['error']}", flush=True)
    _write_json(result_path, result)
    sys.stdout.flush()
    sys.stderr.flush()
    _exit_now(0)
