"""Fixture: Keras 1 convolution layers, Convolution2D(32, 3, 3, border_mode='same') -> invalid with the fix."""

from keras.models import Sequential
from keras.layers import Convolution2D, MaxPooling2D, Flatten, Dense, Reshape


def build_model(input_shape, num_classes):
    model = Sequential()
    model.add(Reshape((28, 28, 1), input_shape=input_shape))
    model.add(Convolution2D(32, 3, 3, border_mode='same', activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(num_classes, activation='softmax'))
    return model
