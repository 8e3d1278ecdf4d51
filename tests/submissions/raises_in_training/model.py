"""Fixture: a layer that works on the first check but raises during training -> crashed."""

import keras
from keras import layers


class Fragile(layers.Layer):
    def call(self, inputs, training=None):
        if training:
            raise RuntimeError("this layer breaks during training")
        return inputs


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(Fragile()(flat))
    return keras.Model(inputs, outputs)
