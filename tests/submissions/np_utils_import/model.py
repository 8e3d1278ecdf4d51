"""Fixture: a Keras 2 import of np_utils, pasted from a tutorial -> invalid with the fix."""

import keras
from keras.utils import np_utils
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
