"""Baseline: a small 64-64 tanh perceptron that outputs logits (no softmax).

The grader sees the linear output and trains it with a from-logits loss, so both styles work.
"""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Flatten(),
            layers.Dense(64, activation="tanh"),
            layers.Dense(64, activation="tanh"),
            layers.Dense(num_classes),
        ],
        name="mlp_64_64_tanh",
    )
