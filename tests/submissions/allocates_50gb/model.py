"""Fixture: touches 50 GB of memory, 1 GB at a time, far over the limit -> out_of_memory.

With a memory cgroup the kernel stops it at the limit; with only RLIMIT_DATA the allocation
fails with MemoryError. Either way the grader must survive and the machine must not swap.
"""

import numpy as np

import keras

hoard = []


def build_model(input_shape, num_classes):
    for _ in range(50):
        hoard.append(np.ones(2**30, dtype=np.uint8))  # np.ones writes every page
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])
