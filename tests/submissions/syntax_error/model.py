"""Fixture: a syntax error (missing colon on line 7) -> invalid."""

import keras


def build_model(input_shape, num_classes)
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])
