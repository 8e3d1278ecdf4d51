"""The train step: load what the build step handed over, initialise it, train it on the track's
schedule, and write predictions for the hidden inputs. It never sees hidden labels, and no student
code ever runs in it.

    python -m pipeline.sandbox.trainer train <submission_dir> <workdir>

model.py is never imported here. The build step hands over data only (tracing.py): a Keras config,
rebuilt in safe mode from Keras' own classes, or a custom model traced to graphs, checked against
an op allow-list and run by a project layer (traced_model.py). Every weight starts from its
initialiser with the track's seed (initial_weights.py), every parameter is counted here, and the
times are measured here, so each figure in the result is the trainer's own. Results travel back
through files in out/, never through stdout.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Optional

from pipeline.sandbox.trainer import runtime  # first: TensorFlow without its start-up noise
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline import atomic, status  # noqa: E402
from pipeline.sandbox.exchange import (  # noqa: E402
    BUILD_DIR, CONTROL_DIR, GO_FILE, LOG_PREFIX, MAX_BUILD_FILE_BYTES, MODEL_CONFIG_FILE, MODEL_CONFIG_FROM_BUILD,
    NON_TRAINABLE_PREFIX, OUT_DIR, PREDICTIONS_FILE, RESULT_FILE, STOP_FILE, SUMMARY_FILE, TRACED_MANIFEST,
    TRAINABLE_PREFIX, VAL_PREDICTIONS_FILE, WEIGHTS_FILE,
)
from pipeline.sandbox.trainer import contract, initial_weights, traced_model  # noqa: E402
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


def load_keras_config(path: Path):
    """A model of Keras' own layers, rebuilt from its config in safe mode: no student class, no
    Lambda code, every seed the track's, every weight fresh from its initialiser."""
    if path.stat().st_size > MAX_BUILD_FILE_BYTES:
        raise SubmissionFailure(status.INVALID, f"the model's configuration is over {MAX_BUILD_FILE_BYTES // 2**20} MB")
    try:
        config = json.loads(path.read_text())
    except ValueError:
        raise SubmissionFailure(status.INVALID, "the build step's model configuration is not JSON") from None
    config = initial_weights.sanitised(config)
    try:
        return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - a config naming anything but Keras' own classes
        raise SubmissionFailure(status.INVALID, "the model's configuration does not load with Keras' own classes "
                                                f"({type(error).__name__}): {str(error)[:200]}") from None


def load_built_model(workdir: Path, seed: int, image_shape: tuple[int, ...], max_constants: int):
    """(model, traced, constant values, architecture or None) from what the build step handed over;
    the weights are new."""
    build_dir = workdir / BUILD_DIR
    keras.utils.set_random_seed(seed)  # every initialiser draws from the track's seed, in order
    if (build_dir / MODEL_CONFIG_FROM_BUILD).is_file():
        model = load_keras_config(build_dir / MODEL_CONFIG_FROM_BUILD)
        if not model.built:
            model.build((None, *contract.input_shape_for(model, image_shape)))
        return model, False, 0, None
    if (build_dir / TRACED_MANIFEST).is_file():
        model, constants, described = traced_model.load(build_dir, seed, max_constants)
        return model, True, constants, described
    raise SubmissionFailure(status.INVALID, "the build step handed over no model")


def count_parameters(model, traced: bool, constant_values: int) -> dict:
    """Every parameter, counted here: each weight, trainable or not, and the values a traced graph's
    large constants hold (a random-number state is not a parameter)."""
    if traced:
        layer = model.get_layer("traced_model")
        weights = [w for w, spec in zip(layer.graph_weights, layer.specs) if not spec["initializer"].get(
            initial_weights.SEED_STATE)]
        trainable = sum(int(np.prod(w.shape)) for w in weights if w.trainable)
        total = sum(int(np.prod(w.shape)) for w in weights) + constant_values
    else:
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        total = sum(int(np.prod(w.shape)) for w in model.weights)
    return {"trainable_params": trainable, "total_params": total, "constant_params": constant_values}


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


def train_submission(workdir: Path) -> dict:
    """Load, validate, train and predict; return the result dict (status ok or a failure)."""
    job = runtime.read_job(workdir / CONTROL_DIR)
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
        model, traced, constant_values, traced_architecture = load_built_model(
            workdir, schedule["seed"], input_shape, limits["max_constant_params"])
        result["custom_code"] = traced
        contract.check_shapes(model, input_shape, num_classes)
        result.update(count_parameters(model, traced, constant_values))
        if result["total_params"] > limits["max_params"]:
            raise SubmissionFailure(status.INVALID, over_budget(result, limits["max_params"]))
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
    write_model_config(model, traced_architecture, out_dir / MODEL_CONFIG_FILE)
    print(f"{LOG_PREFIX}model: {result['total_params']:,} parameters ({result['trainable_params']:,} trainable), "
          f"outputs {result['output_kind']}" + (" (custom code, traced to a graph)" if traced else ""), flush=True)

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
    except Exception as error:  # noqa: BLE001 - a traced graph can fail on real batches
        return {**result, "status": status.CRASHED, "error": f"training failed: {type(error).__name__}: {error}"}
    result["train_seconds"] = time.perf_counter() - started
    result["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    result["epoch_seconds"] = epoch_log.epoch_seconds
    result["optimizer_updates"] = int(np.asarray(model.optimizer.iterations))
    if epoch_log.diverged or not np.all(np.isfinite(result["history"].get("loss", [0.0]))):
        return {**result, "status": status.DIVERGED,
                "error": "the training loss became NaN or infinite: check activations and initialisation"}
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


def write_model_config(model, traced_architecture: Optional[dict], path: Path) -> None:
    """The architecture for duplicate detection: Keras' config, or a traced model's operations and
    weight shapes; skipped if neither can be written."""
    try:
        path.write_text(json.dumps(traced_architecture) if traced_architecture else model.to_json())
    except Exception as error:  # noqa: BLE001 - subclassed models may not implement get_config
        print(f"{LOG_PREFIX}architecture not serialisable, no duplicate check: {type(error).__name__}", flush=True)


def over_budget(counts: dict, budget: int) -> str:
    extra = (f", {counts['constant_params']:,} of them in constants of its traced graph"
             if counts.get("constant_params") else "")
    return (f"model has {counts['total_params']:,} parameters{extra} (trainable or not, all count), over this "
            f"track's budget of {budget:,}: make it smaller")


def main(argv: list[str]) -> int:
    workdir = Path(argv[1])
    out_dir = workdir / OUT_DIR
    out_dir.mkdir(exist_ok=True)
    runtime.run_and_exit(lambda: train_submission(workdir), workdir / CONTROL_DIR, out_dir / RESULT_FILE, "training")
