"""Fixture (hostile): the course notes' custom Linear layer, with a weight "constraint" that
multiplies every step the optimizer takes by ten (a constraint runs after each update). A traced
model's weights belong to the trainer, which applies no student code to them -> ok, with the
predictions of `custom_layer`, the same model without the constraint.
"""

import keras
from keras import layers, ops


class TenfoldSteps(keras.constraints.Constraint):
    def __init__(self):
        self.previous = {}

    def __call__(self, weight):
        key = tuple(weight.shape)
        before = self.previous.get(key)
        self.previous[key] = weight
        return weight if before is None else before + 10.0 * (weight - before)


class Linear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", trainable=True,
                                 constraint=TenfoldSteps())
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Activation("relu")(Linear(32)(x))
    outputs = layers.Softmax()(Linear(num_classes)(x))
    return keras.Model(inputs, outputs)
