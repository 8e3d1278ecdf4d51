"""Fixture (hostile): at import, patches keras.Model.fit to train 3 epochs instead of the
scheduled 1, and keras.Model.compile to use Adam instead of the scheduled SGD.

The patch lives in the build step's process only; the model trains in a fresh process that never
imports model.py -> ok, with the scheduled epochs and optimizer (the trick has no effect).
"""

import keras
from keras import layers

_fit, _compile = keras.Model.fit, keras.Model.compile


def _more_epochs(self, *args, **kwargs):
    kwargs["epochs"] = 3
    return _fit(self, *args, **kwargs)


def _adam(self, *args, **kwargs):
    kwargs["optimizer"] = keras.optimizers.Adam(learning_rate=0.001)
    return _compile(self, *args, **kwargs)


keras.Model.fit = _more_epochs
keras.Model.compile = _adam
print("PATCHED fit and compile", flush=True)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
