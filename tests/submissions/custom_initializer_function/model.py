"""Fixture: a custom layer whose weight starts from the student's own initialiser function (an
old tutorial's habit). The trainer starts every weight from one of keras.initializers, which it
runs itself -> invalid, with the fix."""

import keras
import numpy as np
from keras import layers, ops


def small_random(shape, dtype=None):
    return keras.random.normal(shape, stddev=0.01, dtype=dtype)


class Linear(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=small_random, name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Softmax()(Linear(num_classes)(layers.Flatten()(inputs))))
