"""The train step: load the built model, compile it with the track's schedule, train it, and write
predictions for the hidden inputs. It never sees hidden labels.

    python -m pipeline.sandbox.trainer train <submission_dir> <workdir>

It starts in a fresh process and loads build/model.keras (written by the build step, build.py)
in Keras' safe mode, *without importing model.py*: a model made of Keras' own layers trains with
no student code in the process, so the schedule and every figure reported are the trainer's.
Only a model whose classes are the student's own (custom layers, subclassed models) needs
model.py imported here; then fair_play.py proves the schedule was kept, and the result says
`custom_code: true`. Results travel back through files in out/, never through stdout.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from pipeline.sandbox.trainer import runtime  # first: TensorFlow without its start-up noise
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline import atomic, status  # noqa: E402
from pipeline.sandbox.exchange import (  # noqa: E402
    BUILD_DIR, BUILT_MODEL_FILE, CONTROL_DIR, GO_FILE, LOG_PREFIX, STOP_FILE, MODEL_CONFIG_FILE, NON_TRAINABLE_PREFIX, OUT_DIR, PREDICTIONS_FILE,
    RESULT_FILE, SUMMARY_FILE, TRAINABLE_PREFIX, VAL_PREDICTIONS_FILE, WEIGHTS_FILE,
)
from pipeline.sandbox.trainer import contract, fair_play  # noqa: E402
from pipeline.status import SubmissionFailure  # noqa: E402

OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}


def make_optimizer(name: str, learning_rate: float):
    return OPTIMIZERS[name](learning_rate=learning_rate)


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


def student_objects(module) -> dict:
    """The classes and functions model.py defines: what Keras needs to load a model that uses them."""
    return {name: value for name, value in vars(module).items()
            if callable(value) and getattr(value, "__module__", None) == module.__name__}


def load_built_model(submission_dir: Path, workdir: Path, job: dict):
    """(model, custom_code): the build step's model, loaded without student code where possible.

    1. build/model.keras in safe mode, no custom objects: Keras' own layers only, no student code.
    2. The same file with the classes model.py defines (custom layers, subclassed models).
    3. The model built again by model.py (a model Keras could not save, or a Lambda layer, whose
       code safe mode refuses to load from a file): student code, as in 2.
    Each attempt starts from the schedule's seed, so it is deterministic whichever one succeeds.
    """
    seed = job["schedule"]["seed"]
    path = workdir / BUILD_DIR / BUILT_MODEL_FILE
    if path.is_file():
        keras.utils.set_random_seed(seed)
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True), False
        except Exception as error:  # noqa: BLE001 - unknown classes, Lambda layers: try with the student's code
            print(f"{LOG_PREFIX}the saved model does not load without model.py's own code "
                  f"({type(error).__name__}), so model.py is imported here too", flush=True)
    module = contract.load_module(submission_dir, None)
    if path.is_file():
        keras.utils.set_random_seed(seed)
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True,
                                           custom_objects=student_objects(module)), True
        except Exception:  # noqa: BLE001
            pass
    keras.utils.set_random_seed(seed)
    return contract.build(module, tuple(job["input_shape"]), job["num_classes"]), True


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    return math.ceil(train_size / batch_size)


def save_weights(model, path: Path) -> None:
    """The trained weights as plain arrays, trainable ones first: the grader recounts them."""
    arrays = {f"{TRAINABLE_PREFIX}{index}": np.asarray(weight) for index, weight in enumerate(model.trainable_weights)}
    arrays.update({f"{NON_TRAINABLE_PREFIX}{index}": np.asarray(weight)
                   for index, weight in enumerate(model.non_trainable_weights)})
    atomic.save_npz(path, **arrays)


def wait_for_the_build(workdir: Path, poll_seconds: float = 0.02) -> bool:
    """Wait (imports done, arrays loaded) until the grader says the build step succeeded (True)
    or failed (False). The grader's wall-time limit covers the wait."""
    control = workdir / CONTROL_DIR
    while True:
        if (control / GO_FILE).exists():
            return True
        if (control / STOP_FILE).exists():
            return False
        time.sleep(poll_seconds)


def train_submission(submission_dir: Path, workdir: Path, originals: fair_play.Originals) -> dict:
    """Load, validate, train and predict; return the result dict (status ok or a failure)."""
    job = runtime.read_job(workdir)
    schedule, limits = job["schedule"], job["limits"]
    runtime.configure_runtime(schedule["seed"], job["threads"])
    out_dir = workdir / OUT_DIR
    input_shape, num_classes = tuple(job["input_shape"]), job["num_classes"]
    x_train_f, y_train, x_val_f, y_val, x_hidden_f = runtime.load_arrays(workdir, schedule["scaling"])
    if not wait_for_the_build(workdir):
        sys.stdout.flush()
        os._exit(0)  # the build failed: its result is the submission's

    result: dict = {"status": status.OK, "error": None}
    try:
        model, custom_code = load_built_model(submission_dir, workdir, job)
        result["custom_code"] = custom_code
        if custom_code:
            originals.check()
            fair_play.check_model_classes(model)
        result.update(contract.validate(model, input_shape, num_classes, limits["max_trainable_params"]))
        # The same pixels in the layout the model takes: (28, 28), (28, 28, 1) or (784,).
        x_train_f, x_val_f, x_hidden_f = contract.adapt_inputs(model, input_shape, [x_train_f, x_val_f, x_hidden_f])
        result["output_kind"] = contract.detect_output_kind(model, x_train_f[:32])
    except SubmissionFailure as failure:
        return {**result, "status": failure.status, "error": failure.message}
    except MemoryError:
        return {**result, **runtime.out_of_memory(limits, "loading the model")}

    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    (out_dir / SUMMARY_FILE).write_text("\n".join(lines) + "\n")
    write_model_config(model, out_dir / MODEL_CONFIG_FILE)
    print(f"{LOG_PREFIX}model: {result['trainable_params']:,} trainable parameters, outputs {result['output_kind']}"
          + (" (custom code: its classes come from model.py)" if custom_code else ""), flush=True)

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
        return {**result, **runtime.out_of_memory(limits, "training")}
    except Exception as error:  # noqa: BLE001 - a student layer can fail in any way during fit
        return {**result, "status": status.CRASHED, "error": f"training failed: {type(error).__name__}: {error}"}
    result["train_seconds"] = time.perf_counter() - started
    result["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    result["epoch_seconds"] = epoch_log.epoch_seconds
    result["optimizer_updates"] = int(np.asarray(model.optimizer.iterations))
    if epoch_log.diverged or not np.all(np.isfinite(result["history"].get("loss", [0.0]))):
        return {**result, "status": status.DIVERGED,
                "error": "the training loss became NaN or infinite: check activations and initialisation"}
    if custom_code:
        try:
            originals.check()
            fair_play.check_optimizer(model, OPTIMIZERS[schedule["optimizer"]], schedule["learning_rate"],
                                      schedule["epochs"] * steps_per_epoch(len(y_train), schedule["batch_size"]))
        except SubmissionFailure as failure:
            return {**result, "status": failure.status, "error": failure.message}
    result["validation_accuracy"] = result["history"]["val_accuracy"][-1]
    save_weights(model, out_dir / WEIGHTS_FILE)

    started = time.perf_counter()
    try:
        predictions = model.predict(x_hidden_f, batch_size=1024, verbose=0).astype(np.float32)
    except (MemoryError, tf.errors.ResourceExhaustedError):
        return {**result, **runtime.out_of_memory(limits, "predicting")}
    except Exception as error:  # noqa: BLE001
        return {**result, "status": status.CRASHED, "error": f"prediction failed: {type(error).__name__}: {error}"}
    result["predict_seconds"] = time.perf_counter() - started
    atomic.save_npy(out_dir / PREDICTIONS_FILE, predictions)
    # Validation outputs feed the student's confusion matrix and misclassified-image feedback, and
    # the grader's own validation accuracy; a failure here never costs the score.
    try:
        atomic.save_npy(out_dir / VAL_PREDICTIONS_FILE,
                        model.predict(x_val_f, batch_size=1024, verbose=0).astype(np.float32))
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
    # Taken before any student code is imported: what the schedule relies on, as Keras made it.
    originals = fair_play.Originals({"trainer.make_optimizer": (sys.modules[__name__], "make_optimizer"),
                                     "trainer.EpochLog.on_epoch_end": (EpochLog, "on_epoch_end"),
                                     "trainer.save_weights": (sys.modules[__name__], "save_weights")})
    out_dir = workdir / OUT_DIR
    out_dir.mkdir(exist_ok=True)
    runtime.run_and_exit(lambda: train_submission(submission_dir, workdir, originals), workdir,
                         out_dir / RESULT_FILE, "training")
