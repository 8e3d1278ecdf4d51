"""Fixture: the L42 starter pack's get_model() with a channel axis, Input(shape=(28, 28, 1)) -> ok."""

import keras
from keras import layers


def get_model():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(4, (3, 3), activation="relu")(inputs)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)
