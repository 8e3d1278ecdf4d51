"""Fixture: tries to write files outside its scratch folder.

attack.json (written by the test) lists target paths: in the repository, the pipeline package
(where the grader keeps it and where the sandbox shows it), another submission's folder, its own
folder, the results folder, the prepared data. None of these may be created on the grader's
machine; the model itself is fine -> ok.
"""

import json
import os
from pathlib import Path

import keras
from keras import layers

HERE = Path(__file__).resolve().parent


def try_write(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("written from inside a submission\n")
        print(f"WROTE {path}", flush=True)
    except OSError as error:
        print(f"write refused for {path}: {error}", flush=True)


def build_model(input_shape, num_classes):
    attack = json.loads((HERE / "attack.json").read_text())
    for target in attack["targets"]:
        try_write(target)
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
