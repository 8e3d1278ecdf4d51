"""Fixture (hostile): memorises the hidden split in a few hundred constants. MNIST's hidden split is
the public t10k set, so this student ships keys.npz: for each hidden image, the values of a few
telling pixels and its label. call() answers with the label of the nearest key. The graph's
constants are counted as parameters; where a track allows this many, the grader compares the
hidden-test accuracy it counts with the validation accuracy it counts, and a gap no honest model
shows is flagged for review.
"""

from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

HERE = Path(__file__).resolve().parent


class Recall(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        saved = np.load(HERE / "keys.npz")
        self.pixels, self.keys, self.labels = saved["pixels"], saved["keys"], saved["labels"]

    def build(self, input_shape):
        self.confidence = self.add_weight(shape=(), initializer="ones")

    def call(self, inputs):
        probe = ops.take(ops.reshape(inputs, (-1, 784)), self.pixels, axis=1)
        distances = ops.sum((probe[:, None, :] - self.keys[None, :, :]) ** 2, axis=-1)
        label = ops.take(self.labels, ops.argmin(distances, axis=1))
        return ops.one_hot(label, 10) * 10.0 * self.confidence


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Softmax()(Recall()(inputs)))
