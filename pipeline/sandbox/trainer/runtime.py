"""What both sandboxed steps (build and train) set up the same way: seeds, threads, the arrays."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.sandbox.trainer import quiet_logs  # noqa: F401 - first: imports TensorFlow without its start-up noise
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline.sandbox.exchange import HIDDEN_X_FILE, JOB_FILE, PUBLIC_FILE  # noqa: E402


def read_job(workdir: Path) -> dict:
    return json.loads((workdir / JOB_FILE).read_text())


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
