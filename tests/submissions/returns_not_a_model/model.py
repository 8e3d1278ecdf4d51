"""Fixture: returns a layer instead of a keras.Model -> invalid."""

from keras import layers


def build_model(input_shape, num_classes):
    return layers.Dense(num_classes)
