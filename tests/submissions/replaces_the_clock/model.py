"""Fixture (hostile): stops the clock so the leaderboard lists a train time of 0.0 s. The clock
is replaced in the build step's process only; the trainer times training in its own -> ok, with
a train time like `good`'s and `good`'s predictions.
"""

import time

import keras
from keras import layers

time.perf_counter = lambda: 0.0
time.monotonic = lambda: 0.0
time.time = lambda: 0.0


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
