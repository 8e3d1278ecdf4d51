"""Fixture: the L42 handout's Keras 1 functional model, Model(input=, output=) -> invalid with the fix."""

from keras.layers import Input, Dense, Flatten
from keras.models import Model


def get_model():
    # Input layer: one 28x28 image.
    inp = Input(shape=(28, 28))
    flat = Flatten()(inp)
    hidden = Dense(64, activation='relu')(flat)
    out = Dense(10, activation='softmax')(hidden)

    # The model maps the input to the output.
    return Model(input=inp, output=out)
