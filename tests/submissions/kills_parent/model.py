"""Fixture: tries to kill its parent, the grader (pid in attack.json) and every process it may.

Inside the sandbox's PID namespace none of these reach the grader; the model itself is fine,
so it ends ok (or crashed if it managed to kill its own trainer), and grading goes on.
"""

import json
import os
import signal
from pathlib import Path

import keras
from keras import layers

HERE = Path(__file__).resolve().parent


def attempt(description: str, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        print(f"sent SIGKILL to {description} (pid {pid})", flush=True)
    except OSError as error:
        print(f"could not kill {description} (pid {pid}): {error}", flush=True)


def build_model(input_shape, num_classes):
    attack = json.loads((HERE / "attack.json").read_text()) if (HERE / "attack.json").exists() else {}
    attempt("parent", os.getppid())
    if "grader_pid" in attack:
        attempt("grader", attack["grader_pid"])
    attempt("everything", -1)  # like `kill -9 -1`, sparing only the caller
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
