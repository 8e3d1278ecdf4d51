"""Fixture: a layer that turns every activation into NaN, so the loss is NaN -> diverged."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    logits = layers.Dense(num_classes)(flat)
    outputs = layers.Lambda(lambda x: x * float("nan"))(logits)
    return keras.Model(inputs, outputs)
