"""Fixture: a LeNet-style input for padded 32x32 images, not the track's 28x28 -> invalid."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=(32, 32, 1)), layers.Flatten(), layers.Dense(num_classes, activation="softmax")])
