"""Baseline: a two-hidden-layer perceptron, 256 then 128 ReLU units."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="mlp_256_128",
    )
