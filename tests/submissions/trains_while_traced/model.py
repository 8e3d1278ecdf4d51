"""Fixture (hostile): the first time call() runs (when the model is traced), it starts a thread
that trains the layer's own weights with Adam for three epochs, outside the schedule. Tracing
happens in the build step, which has no data and whose weights are never used -> ok, with the
predictions of `custom_layer`, the same model.
"""

import threading

import keras
import numpy as np
from keras import layers, ops

_started = []


def _train_in_background(layer):
    rng = np.random.default_rng(0)
    optimizer = keras.optimizers.Adam(0.01)
    for _ in range(3 * 20):
        gradient = rng.normal(size=layer.w.shape).astype("float32")
        optimizer.apply([gradient], [layer.w])


class Linear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        if not _started:
            _started.append(threading.Thread(target=_train_in_background, args=(self,), daemon=True))
            _started[0].start()
        return ops.matmul(inputs, self.w) + self.b


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Activation("relu")(Linear(32)(x))
    outputs = layers.Softmax()(Linear(num_classes)(x))
    return keras.Model(inputs, outputs)
