"""Bench reference: mlp_256_128 written with the course notes' custom Linear layer, so it reaches
training as a traced graph (target: within 1.15x a bare Keras script)."""

import keras
from keras import layers, ops


class Linear(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Activation("relu")(Linear(256)(x))
    x = layers.Activation("relu")(Linear(128)(x))
    outputs = layers.Softmax()(Linear(num_classes)(x))
    return keras.Model(inputs, outputs)
