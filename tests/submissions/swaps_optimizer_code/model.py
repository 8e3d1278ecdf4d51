"""Fixture (hostile): swaps the code inside SGD's update step (the function object stays the
same, so a snapshot comparing functions would not notice) for one that takes ten times the
step. Swapped in the build step's process only -> ok, with `good`'s predictions.
"""

import keras
from keras import layers


def _ten_times(self, gradient, variable, learning_rate):
    self.assign_sub(variable, gradient * learning_rate * 10.0)


keras.optimizers.SGD.update_step.__code__ = _ten_times.__code__


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
