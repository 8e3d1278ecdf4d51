"""Fixture (hostile): a custom layer (so model.py must be imported where the model trains) and a
replaced parameter count: the trainer would report 7 parameters.

The grader recounts the trained weights itself -> invalid ("the reported figures do not match").
"""

import sys

import keras
from keras import layers, ops


def _lying_validate(model, input_shape, num_classes, max_trainable_params):
    return {"trainable_params": 7, "total_params": 7}


for name, module in list(sys.modules.items()):
    if name.startswith("pipeline") and hasattr(module, "validate"):
        module.validate = _lying_validate


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
