"""Fixture: expects flattened 784-vectors instead of 28x28 images -> invalid."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=(784,)), layers.Dense(num_classes, activation="softmax")])
