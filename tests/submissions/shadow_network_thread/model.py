"""Fixture (hostile): a daemon thread trains a shadow copy of the network (on whatever it can
find), and the model's call() answers with the shadow's weights, so validation and test both
come from the shadow. The shadow's weights are not the model's: in the traced graph they are
constants, which count and are capped -> invalid, naming the layer.
"""

import threading

import keras
import numpy as np
from keras import layers, ops

SHADOW = keras.Sequential([keras.Input((784,)), layers.Dense(64, activation="relu"), layers.Dense(10)])


def _train_shadow():
    rng = np.random.default_rng(0)
    SHADOW.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    SHADOW.fit(rng.random((256, 784), dtype=np.float32), rng.integers(0, 10, 256), epochs=2, verbose=0)


class UsesTheShadow(layers.Layer):
    def build(self, input_shape):
        self.gate = self.add_weight(shape=(), initializer="ones")

    def call(self, inputs):
        return SHADOW(ops.reshape(inputs, (-1, 784))) * self.gate


def build_model(input_shape, num_classes):
    threading.Thread(target=_train_shadow, daemon=True).start()
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Softmax()(UsesTheShadow()(inputs)))
