"""Baseline: 512-512 ReLU perceptron with Dropout 0.2 after each hidden layer (R keras lecture)."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="mlp_512_512_dropout",
    )
