"""Fixture (hostile): replaces the grader's validation through sys.modules so that a model of about
6.5 million trainable parameters reports 10, under the 1,000,000 budget of the test track.

The build step is where model.py runs; the train step counts the model it loads from the saved
file in a fresh process without importing model.py -> invalid, with the true count.
"""

import sys

import keras
from keras import layers


def _lying_validate(model, input_shape, num_classes, max_trainable_params):
    return {"trainable_params": 10, "total_params": 10}


for name, module in list(sys.modules.items()):
    if name.startswith("pipeline") and hasattr(module, "validate"):
        module.validate = _lying_validate


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Dense(8192, activation="relu")(x)
    x = layers.Dense(10)(x)
    return keras.Model(inputs, layers.Softmax()(x))
