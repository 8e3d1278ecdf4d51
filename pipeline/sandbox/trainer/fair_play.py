"""Proof that the fixed schedule was kept when the train step had to run student code.

A model built only from Keras' own layers is loaded from the build step's file without importing
model.py: no student code shares the training process, and nothing needs proving. A model with
custom layers or a subclassed model needs the student's classes to load, so their code runs in
the training process too. Then the trainer checks, and any violation makes the run `invalid`:

- the training entry points of Keras and TensorFlow are still the originals (snapshot taken
  before any student code was imported), and so are the trainer's own writers;
- the model's own classes do not override the methods the schedule owns;
- after `fit`, the optimizer is the scheduled class with the scheduled learning rate and made
  exactly epochs x steps-per-epoch updates.
"""

from __future__ import annotations

import builtins
import json
import os

import keras
import numpy as np

from pipeline import atomic, status
from pipeline.status import SubmissionFailure

FIXED = "the training schedule is fixed for everyone"
# Methods of a model class that would change how it is trained or evaluated.
SCHEDULE_METHODS = ("train_step", "test_step", "predict_step", "compile", "fit", "evaluate", "predict",
                    "make_train_function", "make_test_function", "make_predict_function", "compute_loss",
                    "optimizer")


def _entry_points() -> dict[str, tuple[object, str]]:
    """Name -> (owner, attribute) of everything the schedule and the reported figures rely on."""
    points = {f"keras.Model.{name}": (keras.Model, name)
              for name in ("fit", "compile", "train_step", "test_step", "predict_step", "evaluate", "predict",
                           "make_train_function", "make_test_function", "make_predict_function", "compute_loss",
                           "count_params", "summary", "save")}
    for optimizer in (keras.optimizers.Optimizer, keras.optimizers.SGD, keras.optimizers.Adam,
                      keras.optimizers.RMSprop):
        for name in ("apply", "apply_gradients", "update_step", "__init__"):
            points[f"keras.optimizers.{optimizer.__name__}.{name}"] = (optimizer, name)
    for name in ("on_epoch_begin", "on_epoch_end", "on_train_batch_end", "on_train_begin", "on_train_end"):
        points[f"keras.callbacks.CallbackList.{name}"] = (keras.callbacks.CallbackList, name)
    points.update({
        "open": (builtins, "open"), "json.dumps": (json, "dumps"), "os.replace": (os, "replace"),
        "os._exit": (os, "_exit"), "numpy.save": (np, "save"), "numpy.savez": (np, "savez"),
        "atomic.write_json": (atomic, "write_json"), "atomic.write_bytes": (atomic, "write_bytes"),
    })
    return points


class Originals:
    """A snapshot of the entry points, taken before student code is imported."""

    def __init__(self, extra: dict[str, tuple[object, str]] | None = None):
        self.points = {**_entry_points(), **(extra or {})}
        self.values = {name: getattr(owner, attribute) for name, (owner, attribute) in self.points.items()}

    def check(self) -> None:
        """Raise `invalid` naming the first entry point that model.py replaced."""
        for name, (owner, attribute) in self.points.items():
            if getattr(owner, attribute, None) is not self.values[name]:
                raise SubmissionFailure(status.INVALID, f"model.py replaces {name}: {FIXED}")


def check_model_classes(model) -> None:
    """The student's own classes in the model's hierarchy may not override the schedule's methods."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith(("keras", "tensorflow", "builtins")):
            continue
        for name in SCHEDULE_METHODS:
            if name in vars(cls):
                raise SubmissionFailure(status.INVALID, f"model.py's {cls.__name__} overrides {name}: {FIXED}")


def check_optimizer(model, expected_class: type, learning_rate: float, expected_steps: int) -> int:
    """After fit: the scheduled optimizer, learning rate and number of updates; returns the updates."""
    optimizer = model.optimizer
    if type(optimizer) is not expected_class:
        raise SubmissionFailure(status.INVALID, f"model.py swaps the optimizer for {type(optimizer).__name__} "
                                                f"(scheduled: {expected_class.__name__}): {FIXED}")
    actual_rate = float(np.asarray(optimizer.learning_rate))
    if actual_rate != float(np.float32(learning_rate)):
        raise SubmissionFailure(status.INVALID, f"model.py changes the learning rate to {actual_rate:g} "
                                                f"(scheduled: {learning_rate:g}): {FIXED}")
    steps = int(np.asarray(optimizer.iterations))
    if steps != expected_steps:
        raise SubmissionFailure(status.INVALID, f"the optimizer made {steps} updates where the schedule makes "
                                                f"{expected_steps}: {FIXED}")
    return steps
