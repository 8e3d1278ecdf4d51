"""Fixture (hostile): replaces the trainer's counting, weight-writing, optimizer and scoring
helpers wherever it can import them, to report 7 parameters and a perfect score. They are
replaced in the build step's process only; the train step never imports model.py -> ok, with
`good`'s predictions and its true count.
"""

import importlib

import keras
from keras import layers

FORGED = {"trainable_params": 7, "total_params": 7, "constant_params": 0}

for name, replacements in {
    "pipeline.sandbox.trainer.train": {"count_parameters": lambda *args, **kwargs: dict(FORGED),
                                       "save_weights": lambda *args, **kwargs: None,
                                       "make_optimizer": lambda name, rate: keras.optimizers.Adam(rate * 10)},
    "pipeline.grading.scoring": {"cross_check": lambda *args, **kwargs: None},
    "pipeline.sandbox.trainer.contract": {"check_shapes": lambda *args, **kwargs: None},
}.items():
    try:
        module = importlib.import_module(name)
    except Exception as error:  # noqa: BLE001
        print(f"could not import {name}: {type(error).__name__}", flush=True)
        continue
    for attribute, replacement in replacements.items():
        setattr(module, attribute, replacement)
        print(f"replaced {name}.{attribute}", flush=True)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
