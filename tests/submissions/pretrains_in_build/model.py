"""Fixture (hostile): trains the model inside build_model, before grading ever sees it.

It looks for the public arrays where the grader used to put them (the build's scratch folder),
and trains with Adam on whatever it finds; with nothing found it still "warms up" on noise, so
its weights leave build_model far from their initialisers. The build step hands over the
architecture only, and the trainer starts every weight from its initialiser -> ok, with the very
predictions of `good`, the same model untouched.
"""

import glob

import keras
import numpy as np
from keras import layers


def find_training_data():
    for path in glob.glob("/scratch/*.npz") + glob.glob("/scratch/**/*.npz", recursive=True):
        try:
            with np.load(path) as arrays:
                return arrays["x_train"].astype("float32") / 255.0, arrays["y_train"]
        except (OSError, KeyError, ValueError):
            continue
    print("no training data in the build sandbox: warming up on noise", flush=True)
    rng = np.random.default_rng(0)
    return rng.random((512, 28, 28), dtype=np.float32), rng.integers(0, 10, 512)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(flat)
    model = keras.Model(inputs, outputs)
    x, y = find_training_data()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x.reshape((len(x), *input_shape)), y, epochs=3, verbose=0)
    return model
