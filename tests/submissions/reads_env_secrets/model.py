"""Fixture: dumps every environment it can reach into the log (its own and other processes').

The test puts a secret in the grader's environment; it must not appear in this log. The model
itself is fine -> ok.
"""

import os

import keras
from keras import layers


def build_model(input_shape, num_classes):
    print("ENVIRON:", dict(os.environ), flush=True)
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                print(f"/proc/{pid}/environ:", handle.read().replace(b"\0", b" ").decode(errors="replace"), flush=True)
        except OSError as error:
            print(f"/proc/{pid}/environ unreadable: {error}", flush=True)
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
