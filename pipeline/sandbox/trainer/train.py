"""What runs inside the sandbox: build the student's model, train it on the fixed schedule,
and write predictions for the hidden inputs. It never sees hidden labels.

    python -m pipeline.sandbox.trainer <submission_dir> <workdir>

<workdir> is laid out as pipeline/sandbox/exchange.py describes. Results travel back to the trusted
grader through files, never through stdout, which is only a log.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

from pipeline.sandbox.trainer import quiet_logs  # noqa: F401 - first: imports TensorFlow without its start-up noise
import keras
import numpy as np
import tensorflow as tf

from pipeline import atomic, status
from pipeline.sandbox.trainer import contract, errors
from pipeline.sandbox.exchange import (
    HIDDEN_X_FILE, JOB_FILE, LOG_PREFIX, MODEL_CONFIG_FILE, OUT_DIR, PREDICTIONS_FILE, PUBLIC_FILE, RESULT_FILE,
    SUMMARY_FILE, VAL_PREDICTIONS_FILE,
)
from pipeline.status import SubmissionFailure


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


def make_optimizer(name: str, learning_rate: float):
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    return optimizers[name](learning_rate=learning_rate)


class EpochLog(keras.callbacks.Callback):
    """Prints one line per epoch (the grading log) and stops at the first NaN/inf batch loss."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.diverged = False
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        shown = " ".join(f"{key}={value:.4f}" for key, value in sorted((logs or {}).items()))
        seconds = time.perf_counter() - self.started
        self.epoch_seconds.append(seconds)
        print(f"{LOG_PREFIX}epoch {epoch + 1}/{self.epochs} {shown} ({seconds:.1f}s)", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
            self.model.stop_training = True


def out_of_memory(limits: dict, stage: str) -> dict:
    """A MemoryError (or TensorFlow's ResourceExhaustedError) in student code is out_of_memory."""
    return {"status": status.OUT_OF_MEMORY,
            "error": f"ran out of memory while {stage}: this track allows {limits['memory_mb']} MB "
                     f"(limits.memory_mb); make the model or the arrays it creates smaller"}


def train_submission(submission_dir: Path, workdir: Path) -> dict:
    """Build, validate, train and predict; return the result dict (status ok or a failure)."""
    job = json.loads((workdir / JOB_FILE).read_text())
    schedule, limits = job["schedule"], job["limits"]
    configure_runtime(schedule["seed"], job["threads"])
    out_dir = workdir / OUT_DIR
    input_shape, num_classes = tuple(job["input_shape"]), job["num_classes"]

    with np.load(workdir / PUBLIC_FILE) as public:
        x_train, y_train, x_val, y_val = (public[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    x_hidden = np.load(workdir / HIDDEN_X_FILE)
    x_train_f, x_val_f, x_hidden_f = scale_inputs(x_train, [x_train, x_val, x_hidden], schedule["scaling"])

    result: dict = {"status": status.OK, "error": None}
    try:
        module = contract.load_module(submission_dir, out_dir)
        model = contract.build(module, input_shape, num_classes)
        result.update(contract.validate(model, input_shape, num_classes, limits["max_trainable_params"]))
        # The same pixels in the layout the model takes: (28, 28), (28, 28, 1) or (784,).
        x_train_f, x_val_f, x_hidden_f = contract.adapt_inputs(model, input_shape, [x_train_f, x_val_f, x_hidden_f])
        result["output_kind"] = contract.detect_output_kind(model, x_train_f[:32])
    except SubmissionFailure as failure:
        return {**result, "status": failure.status, "error": failure.message}
    except MemoryError:
        return {**result, **out_of_memory(limits, "building the model")}

    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    (out_dir / SUMMARY_FILE).write_text("\n".join(lines) + "\n")
    write_model_config(model, out_dir / MODEL_CONFIG_FILE)
    print(f"{LOG_PREFIX}model: {result['trainable_params']:,} trainable parameters, outputs {result['output_kind']}", flush=True)

    model.compile(
        optimizer=make_optimizer(schedule["optimizer"], schedule["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=result["output_kind"] == "logits"),
        metrics=["accuracy"],
    )
    epoch_log = EpochLog(schedule["epochs"])
    started = time.perf_counter()
    try:
        history = model.fit(
            x_train_f, y_train,
            validation_data=(x_val_f, y_val),
            epochs=schedule["epochs"],
            batch_size=schedule["batch_size"],
            shuffle=True,
            verbose=0,
            callbacks=[epoch_log],
        )
    except (MemoryError, tf.errors.ResourceExhaustedError):
        return {**result, **out_of_memory(limits, "training")}
    except Exception as error:  # noqa: BLE001 - a student layer can fail in any way during fit
        return {**result, "status": status.CRASHED, "error": f"training failed: {type(error).__name__}: {error}"}
    result["train_seconds"] = time.perf_counter() - started
    result["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    result["epoch_seconds"] = epoch_log.epoch_seconds
    if epoch_log.diverged or not np.all(np.isfinite(result["history"].get("loss", [0.0]))):
        return {**result, "status": status.DIVERGED,
                "error": "the training loss became NaN or infinite: check activations and initialisation"}
    result["validation_accuracy"] = result["history"]["val_accuracy"][-1]

    started = time.perf_counter()
    try:
        predictions = model.predict(x_hidden_f, batch_size=1024, verbose=0).astype(np.float32)
    except (MemoryError, tf.errors.ResourceExhaustedError):
        return {**result, **out_of_memory(limits, "predicting")}
    except Exception as error:  # noqa: BLE001
        return {**result, "status": status.CRASHED, "error": f"prediction failed: {type(error).__name__}: {error}"}
    result["predict_seconds"] = time.perf_counter() - started
    np.save(out_dir / PREDICTIONS_FILE, predictions)
    # Validation outputs feed the student's confusion matrix and misclassified-image feedback;
    # optional, so a failure here never costs the score.
    try:
        np.save(out_dir / VAL_PREDICTIONS_FILE, model.predict(x_val_f, batch_size=1024, verbose=0).astype(np.float32))
    except Exception as error:  # noqa: BLE001
        print(f"{LOG_PREFIX}no validation predictions for feedback: {type(error).__name__}: {error}", flush=True)
    return result


def write_model_config(model, path: Path) -> None:
    """The architecture as Keras serialises it, for duplicate detection; skipped if it cannot be."""
    try:
        path.write_text(model.to_json())
    except Exception as error:  # noqa: BLE001 - subclassed models may not implement get_config
        print(f"{LOG_PREFIX}architecture not serialisable, no duplicate check: {type(error).__name__}", flush=True)


def main(argv: list[str]) -> int:
    submission_dir, workdir = Path(argv[0]), Path(argv[1])
    out_dir = workdir / OUT_DIR
    out_dir.mkdir(exist_ok=True)
    try:
        result = train_submission(submission_dir, workdir)
    except MemoryError:
        limits = json.loads((workdir / JOB_FILE).read_text())["limits"]
        result = out_of_memory(limits, "running")
    except Exception as error:  # noqa: BLE001 - e.g. the model fails on its first batch
        traceback.print_exc()
        result = {"status": status.CRASHED, "error": f"the submission failed: {contract.describe_error(error)}"}
    if result.get("error"):
        result["error"] = status.one_line(errors.scrub(result["error"]))
    atomic.write_json(out_dir / RESULT_FILE, result)
    if result["error"]:
        print(f"{LOG_PREFIX}{result['status']}: {result['error']}", flush=True)
    return 0
