"""Fixture: a script that ends with exit() at import time -> invalid naming the line."""
import keras
exit()


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
