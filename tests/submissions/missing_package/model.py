"""Fixture: imports a package that is not installed for grading -> invalid."""

import keras
import gradebench_fixture_package_that_does_not_exist  # noqa: F401


def build_model(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])
