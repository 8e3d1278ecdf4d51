"""Fixture (hostile): in the build step (and only there) the model it returns holds a Lambda layer,
so the saved model file carries that Lambda's code; the code announces itself if it ever runs in
the train step. Loaded in safe mode, the file's code never runs there: the train step refuses it
and builds the model from model.py's source instead (custom code, a plain model) -> ok, and the
log never shows "FILE CODE RAN in train"."""

import sys

import keras
from keras import layers


def _announce(x):
    print(f"FILE CODE RAN in {sys.argv[1] if len(sys.argv) > 1 else '?'}", flush=True)
    return x


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    if "build" in sys.argv:
        x = layers.Lambda(_announce)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))
