"""Fixture (hostile): in the build step (and only there) the model it returns holds a Lambda layer
with an anonymous lambda, so the saved model file carries that lambda's byte code, which announces
itself if it ever runs in the train step. The train step loads files in Keras' safe mode, which
refuses byte code: it builds the model from model.py's source instead (custom code, a plain model)
-> ok, and the log never shows "FILE CODE RAN in train"."""

import sys

import keras
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    if "build" in sys.argv:
        x = layers.Lambda(lambda t: (print(f"FILE CODE RAN in {sys.argv[1]}", flush=True), t)[1])(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))
