"""Fixture: a tiny, correct submission (one softmax layer) that must grade `ok`."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(flat)
    return keras.Model(inputs, outputs)
