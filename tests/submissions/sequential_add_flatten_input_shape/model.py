"""Fixture: Sequential() + add(Flatten(input_shape=...)), as older tutorials write it -> ok."""

from keras.models import Sequential
from keras.layers import Flatten, Dense


def build_model(input_shape, num_classes):
    model = Sequential()
    model.add(Flatten(input_shape=input_shape))
    model.add(Dense(32, activation='relu'))
    model.add(Dense(num_classes, activation='softmax'))
    return model
