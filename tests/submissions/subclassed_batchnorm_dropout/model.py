"""Fixture: a subclassed model from the course notes' regularisation lecture: batch
normalisation, Gaussian noise and dropout, whose call() passes `training` on. Its moving
statistics and its random-number state are updated by training -> ok."""

import keras
from keras import layers


class RegularisedNet(keras.Model):
    def __init__(self, num_classes):
        super().__init__()
        self.flatten = layers.Flatten()
        self.noise = layers.GaussianNoise(0.1)
        self.hidden = layers.Dense(64)
        self.norm = layers.BatchNormalization()
        self.dropout = layers.Dropout(0.3)
        self.out = layers.Dense(num_classes, activation="softmax")

    def call(self, x, training=False):
        x = self.noise(self.flatten(x), training=training)
        x = keras.activations.relu(self.norm(self.hidden(x), training=training))
        return self.out(self.dropout(x, training=training))


def build_model(input_shape, num_classes):
    return RegularisedNet(num_classes)
