"""Fixture (hostile): registers an atexit hook that rewrites the trainer's result files with
forged figures (validation accuracy 0.9999, 7 parameters, 0.001 s of training). A custom layer
makes model.py load in the train step too, so the hook is registered in both sandboxed steps.

Both steps exit with os._exit right after writing their result: no atexit hook runs -> ok, with
the true figures (the trick has no effect).
"""

import atexit
import json
import os

import keras
from keras import layers

FORGED = {"status": "ok", "error": None, "trainable_params": 7, "total_params": 7, "validation_accuracy": 0.9999,
          "train_seconds": 0.001, "history": {"loss": [0.0], "val_accuracy": [0.9999]}}


def _forge():
    for path in ("/scratch/out/result.json", "/scratch/build/result.json"):
        try:
            with open(path, "w") as handle:
                json.dump(FORGED, handle)
            print(f"FORGED {path}", flush=True)
        except OSError:
            pass


atexit.register(_forge)


class Scale(layers.Layer):
    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer="ones", trainable=True)

    def call(self, inputs):
        return inputs * self.factor


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = Scale()(layers.Flatten()(inputs))
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
