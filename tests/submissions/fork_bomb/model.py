"""Fixture: a classic fork bomb; every process forks forever -> crashed (process limit)."""

import os

import keras


def build_model(input_shape, num_classes):
    while True:
        os.fork()
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])
