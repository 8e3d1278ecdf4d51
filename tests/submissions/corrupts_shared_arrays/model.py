"""Fixture: every job of a grading run reads the same array files, so a student who could write
them would train everyone after them on poisoned data. This one tries, the way a clever student
would: overwrite the training labels in place, replace the file, loosen its mode first, and
follow the link to where the grader keeps it. The model itself is fine -> ok, and the next
submission's predictions must not change.
"""

import os

import keras
import numpy as np
from keras import layers

ARRAYS = "/scratch/public.npz"


def attempt(label, action):
    try:
        action()
        print(f"POISONED via {label}", flush=True)
    except OSError as error:
        print(f"refused ({label}): {error}", flush=True)


def overwrite_in_place():
    with open(ARRAYS, "r+b") as handle:
        handle.seek(1024)
        handle.write(b"\x00" * 4096)


def replace_file():
    np.savez("/tmp/home/poison.npz", x_train=np.zeros((4, 28, 28), np.uint8), y_train=np.zeros(4, np.uint8))
    os.replace("/tmp/home/poison.npz", ARRAYS)


def loosen_mode():
    os.chmod(ARRAYS, 0o666)


def through_the_link():
    target = os.path.realpath(ARRAYS)
    with open(target, "r+b") as handle:
        handle.write(b"\x00" * 64)


def build_model(input_shape, num_classes):
    for label, action in [("write in place", overwrite_in_place), ("replace", replace_file),
                          ("chmod", loosen_mode), ("realpath", through_the_link)]:
        attempt(label, action)
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(flat)
    return keras.Model(inputs, outputs)
