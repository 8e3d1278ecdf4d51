"""Fixture: an honest custom layer (a learned input scale) before a softmax classifier -> ok.
The honest twin of the hostile fixtures built the same way."""

import keras
from keras import layers


class Scale(layers.Layer):
    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer="ones", trainable=True)

    def call(self, inputs):
        return inputs * self.factor


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = Scale()(layers.Flatten()(inputs))
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
