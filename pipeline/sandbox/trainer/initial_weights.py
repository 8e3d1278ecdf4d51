"""Where every weight starts: Keras' own initialisers, run by the trainer with the track's seed.

The build step hands over an architecture, never weights. Whatever the student's code set, loaded
or trained there is gone: the trainer creates each weight again from its initialiser, after
seeding Python, NumPy and Keras with the track's seed, so a frozen layer or a model "pre-trained"
in the build starts exactly where an untouched one would. Seeds written into a config (an
initialiser's or a Dropout's) are dropped for the same reason: the track's seed decides them all.
A config or manifest that tries to carry data (a constant initialiser or vocabulary of thousands of
values) is refused.
"""

from __future__ import annotations

from typing import Any, Optional

import keras
import numpy as np

from pipeline import status
from pipeline.sandbox.trainer.graph_rules import SMALL_CONSTANT
from pipeline.status import SubmissionFailure

INITIALIZERS_MODULE = "keras.initializers"
# A Keras SeedGenerator's state: [seed, counter]. The trainer sets it from the track's seed.
SEED_STATE = "seed_state"
# A vector of 0s and 1s that a Keras layer's own closure makes (the LSTM's unit-forget bias). It
# crosses as its value: a 1-D mask of bits can start a bias, not carry a model's knowledge.
BINARY_VECTOR = "binary_vector"


def _values_in(value: Any) -> int:
    """How many numbers a config value holds (a list or a serialised NumPy array)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return _values_in(value.get("config", {}).get("value"))
    if isinstance(value, (list, tuple)):
        return sum(_values_in(item) for item in value) if any(isinstance(i, (list, tuple)) for i in value) \
            else len(value)
    return 1


def sanitised(config: Any, where: str = "the model") -> Any:
    """The config with every seed left to the trainer, refusing any value that carries data."""
    if isinstance(config, dict):
        if config.get("class_name") == "__numpy__" and _values_in(config) > SMALL_CONSTANT:
            raise SubmissionFailure(status.INVALID, f"{where} carries an array of {_values_in(config):,} values in "
                                                    "its configuration: weights come from initialisers, not data")
        name = config.get("config", {}).get("name") if isinstance(config.get("config"), dict) else None
        inner = f"layer {name!r}" if name else where
        cleaned = {}
        for key, value in config.items():
            if key == "seed" and isinstance(value, (int, dict)) and not isinstance(value, bool):
                cleaned[key] = None
            else:
                cleaned[key] = sanitised(value, inner)
        return cleaned
    if isinstance(config, list):
        if len(config) > SMALL_CONSTANT and all(isinstance(item, (int, float)) for item in config):
            raise SubmissionFailure(status.INVALID, f"{where} carries a list of {len(config):,} values in its "
                                                    "configuration: weights come from initialisers, not data")
        return [sanitised(item, where) for item in config]
    return config


def initializer_from_spec(spec: Optional[dict], where: str):
    """A Keras initialiser from its serialised form, built by the trainer: Keras' own classes only."""
    if not isinstance(spec, dict) or spec.get("module") != INITIALIZERS_MODULE:
        named = f" ({spec['custom']})" if isinstance(spec, dict) and isinstance(spec.get("custom"), str) else ""
        raise SubmissionFailure(status.INVALID, f"model.py: {where} starts from an initialiser{named} that is not one "
                                                "of keras.initializers: use one of them, e.g. 'glorot_uniform', or "
                                                "keras.initializers.RandomNormal(stddev=0.01) for small random weights")
    try:
        return keras.saving.deserialize_keras_object(sanitised(spec, where), safe_mode=True)
    except SubmissionFailure:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the manifest claims, one clear line
        raise SubmissionFailure(status.INVALID, f"{where}: its initialiser cannot be made "
                                                f"({type(error).__name__}): use one of keras.initializers") from None


def binary_vector(spec: dict, shape: list[int], dtype: str, where: str) -> np.ndarray:
    values = spec.get(BINARY_VECTOR)
    if len(shape) != 1 or not isinstance(values, list) or len(values) != shape[0] or \
            any(value not in (0, 1) or isinstance(value, bool) for value in values):
        raise SubmissionFailure(status.INVALID, f"the build step's manifest gives {where} a starting value that is "
                                                "not a vector of 0s and 1s of its shape")
    return np.array(values, dtype=dtype)


def seed_state(seed: int, index: int, dtype: str) -> np.ndarray:
    """The starting state of the model's index-th random-number generator (Dropout, noise layers)."""
    return np.array([seed + 1000 * (index + 1), 0], dtype=dtype)
