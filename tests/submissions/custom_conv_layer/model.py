"""Fixture: a convolution written as a custom layer with keras.ops.conv -> traced to a graph, and
its FLOPs counted there like a Conv2D's (105,516 per image: 0.106 MFLOPs)."""

import keras
from keras import layers, ops


class Convolution(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], self.filters), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        return ops.relu(ops.conv(inputs, self.kernel, padding="valid") + self.bias)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = Convolution(4)(layers.Reshape((*input_shape, 1))(inputs))
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(x))
    return keras.Model(inputs, outputs)
