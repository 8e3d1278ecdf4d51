"""Fixture: about 5.8 million trainable parameters, over any small track's budget -> invalid."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(),
        layers.Dense(2048, activation="relu"),
        layers.Dense(2048, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ])
