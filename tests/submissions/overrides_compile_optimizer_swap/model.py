"""Fixture (hostile): a subclassed model whose compile swaps the scheduled SGD for Adam
-> invalid ("overrides compile")."""

import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.flatten = layers.Flatten()
        self.out = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs):
        return self.out(self.flatten(inputs))

    def compile(self, *args, **kwargs):
        kwargs["optimizer"] = keras.optimizers.Adam(learning_rate=0.001)
        return super().compile(*args, **kwargs)


def build_model(input_shape, num_classes):
    return Net(num_classes)
