"""Fixture (hostile): writes 16 GB into its home folder at import (HOME and TMPDIR are its scratch
space) -> out_of_disk at limits.disk_mb, and nothing it wrote outlives the run."""

import os

import keras
from keras import layers

CHUNK = b"\0" * (64 * 2**20)
path = os.path.join(os.environ["HOME"], "filler.bin")
with open(path, "wb") as handle:
    for _ in range(16 * 1024 // 64):
        handle.write(CHUNK)
print("WROTE 16 GB", flush=True)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs)))
