"""Fixture: saved by a Windows editor, with a UTF-8 BOM and CRLF line endings -> ok."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    # Café example: a plain softmax classifier.
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
