"""Fixture: the build function has the wrong name -> invalid."""

import keras


def make_model(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])
