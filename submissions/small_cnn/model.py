"""Baseline: a small convolutional network, two conv + max-pool blocks (keras-io mnist_convnet)."""

import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            # The track gives (height, width) images; convolutions want a channel axis.
            layers.Reshape((*input_shape, 1)),
            layers.Conv2D(32, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Conv2D(64, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Flatten(),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="small_cnn",
    )
