"""Fixture: prints 100 MB of lines plus a 10 MB line with no newline, then a good model -> ok.

The grader keeps only the log's tail and must not hold the whole output in memory.
"""

import sys

import keras
from keras import layers


def build_model(input_shape, num_classes):
    line = "spam " * 204 + "\n"  # 1021 bytes
    for _ in range(100):
        sys.stdout.write(line * 1024)
    sys.stdout.write("x" * (10 * 2**20))
    sys.stdout.write("\nLAST LINE OF THE FLOOD\n")
    sys.stdout.flush()
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
