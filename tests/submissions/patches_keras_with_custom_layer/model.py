"""Fixture (hostile): the same patched fit (3 epochs) and compile (Adam), plus a custom layer, so
model.py must be imported in the process that trains.

The trainer compares Keras' entry points with the originals it recorded before importing
model.py -> invalid ("model.py replaces keras.Model.fit: the training schedule is fixed ...").
"""

import keras
from keras import layers, ops

_fit, _compile = keras.Model.fit, keras.Model.compile


def _more_epochs(self, *args, **kwargs):
    kwargs["epochs"] = 3
    return _fit(self, *args, **kwargs)


def _adam(self, *args, **kwargs):
    kwargs["optimizer"] = keras.optimizers.Adam(learning_rate=0.001)
    return _compile(self, *args, **kwargs)


keras.Model.fit = _more_epochs
keras.Model.compile = _adam


class Scale(layers.Layer):
    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer="ones", trainable=True)

    def call(self, inputs):
        return inputs * self.factor


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = Scale()(layers.Flatten()(inputs))
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
