"""Fixture (hostile): writes 16 GB, in 64 MB files, into the one folder of the scratch space that
the host keeps (the build step's output) -> out_of_disk at limits.disk_mb."""

import os

import keras
from keras import layers

CHUNK = b"\0" * (64 * 2**20)
for index in range(16 * 1024 // 64):
    with open(f"/scratch/build/filler-{index}.bin", "wb") as handle:
        handle.write(CHUNK)
print("WROTE 16 GB", flush=True)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs)))
