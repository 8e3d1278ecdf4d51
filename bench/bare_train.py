"""The baseline of the overhead figure: a bare, in-process Keras script, no grader, no sandbox.

    python bench/bare_train.py <prepared_dir> <submission_dir> --epochs N [--threads T]
           [--seed S] [--batch-size B] [--scaling standardize|unit] [--lr 0.01]
           [--input numpy|tfdata] [--out result.json]

It loads the same prepared arrays the grader hands the sandbox, applies the same scaling, seeds and
thread settings, and runs the same compile + fit (with validation) + predict as pipeline/train.py,
then prints one JSON line (timings, hidden accuracy, a hash of the predictions). It imports only
keras, numpy and the backend (TensorFlow or, with KERAS_BACKEND=jax, JAX), so it also runs in a
venv without the pipeline installed (the backend comparison does that).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time

T0 = time.time()  # process start is measured by the caller; this is "first line"

import numpy as np  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("prepared_dir")
    parser.add_argument("submission_dir")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--scaling", default="standardize", choices=["standardize", "unit"])
    parser.add_argument("--input", default="numpy", choices=["numpy", "tfdata"])
    parser.add_argument("--out", default=None)
    parser.add_argument("--lean-import", action="store_true",
                        help="import Keras without scikit-learn, matplotlib, SciPy and pandas, as the trainer does")
    return parser.parse_args(argv)


class ReportMissing:
    """The trainer's lean import (pipeline/sandbox/trainer/lean_import.py), copied so that this
    script runs without the pipeline installed."""

    NOT_NEEDED = frozenset({"sklearn", "matplotlib", "scipy", "pandas", "pyarrow"})

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.NOT_NEEDED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def import_keras(lean: bool):
    finder = ReportMissing() if lean else None
    if finder:
        sys.meta_path.insert(0, finder)
    try:
        import keras
    finally:
        if finder:
            sys.meta_path.remove(finder)
    return keras


def main(argv) -> int:
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = import_keras(args.lean_import)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        keras.utils.set_random_seed(args.seed)
        tf.config.experimental.enable_op_determinism()
    else:
        keras.utils.set_random_seed(args.seed)
    imported = time.time()

    with np.load(os.path.join(args.prepared_dir, "public.npz")) as public:
        x_train, y_train, x_val, y_val = (public[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    x_hidden = np.load(os.path.join(args.prepared_dir, "hidden_x.npy"))
    if args.scaling == "unit":
        x_train_f, x_val_f, x_hidden_f = (a.astype(np.float32) / np.float32(255.0) for a in (x_train, x_val, x_hidden))
    else:
        mean = np.float32(x_train.mean(dtype=np.float64))
        std = np.float32(x_train.std(dtype=np.float64))
        x_train_f, x_val_f, x_hidden_f = ((a.astype(np.float32) - mean) / std for a in (x_train, x_val, x_hidden))

    spec = importlib.util.spec_from_file_location("student_model", os.path.join(args.submission_dir, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    input_shape = tuple(x_train.shape[1:])
    model = (module.build_model(input_shape, 10) if hasattr(module, "build_model") else module.get_model())
    outputs = np.asarray(model(x_train_f[:32], training=False))
    logits = not (np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3) and outputs.min() >= 0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=args.lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits), metrics=["accuracy"])
    ready = time.time()

    if args.input == "tfdata":
        import tensorflow as tf

        train = (tf.data.Dataset.from_tensor_slices((x_train_f, y_train))
                 .shuffle(len(x_train_f), seed=args.seed, reshuffle_each_iteration=True)
                 .batch(args.batch_size).prefetch(tf.data.AUTOTUNE))
        val = tf.data.Dataset.from_tensor_slices((x_val_f, y_val)).batch(args.batch_size).prefetch(tf.data.AUTOTUNE)
        history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=0)
    else:
        history = model.fit(x_train_f, y_train, validation_data=(x_val_f, y_val), epochs=args.epochs,
                            batch_size=args.batch_size, shuffle=True, verbose=0)
    trained = time.time()
    predictions = model.predict(x_hidden_f, batch_size=1024, verbose=0).astype(np.float32)
    predicted = time.time()
    result = {
        "backend": backend, "input": args.input, "epochs": args.epochs, "threads": args.threads,
        "import_seconds": imported - T0, "setup_seconds": ready - imported,
        "train_seconds": trained - ready, "predict_seconds": predicted - trained,
        "validation_accuracy": float(history.history["val_accuracy"][-1]),
        "final_loss": float(history.history["loss"][-1]),
        "predictions_sha256": hashlib.sha256(predictions.tobytes()).hexdigest(),
        "predicted_classes": predictions.argmax(axis=1).astype(int).tolist() if args.out else None,
    }
    text = json.dumps({k: v for k, v in result.items() if k != "predicted_classes"})
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle)
    print("BARE_RESULT " + text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
