"""The build step's hand-over: the model as data the train step can run without student Python.

A model made only of Keras' own layers is handed over as its Keras config (`model.json`); the
train step rebuilds it in safe mode. Any other model (custom layers, subclassed models, Lambda
layers) is traced here, where its code may run, into two TensorFlow graphs of its forward pass,
`model.stateless_call(trainable, non_trainable, x, training=...)`: weights come in as inputs, and
the new state of its non-trainable weights (BatchNormalization's moving statistics, a Dropout's
random-number state) and its regularisation loss go out as outputs. The manifest lists each
weight's shape, dtype and initialiser, so the train step can create and initialise the weights
itself. Everything written here is a claim the train step checks (graph_rules, initial_weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import keras
import keras.src.backend as keras_backend
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from pipeline import status
from pipeline.sandbox.exchange import (
    MODEL_CONFIG_FROM_BUILD, TRACED_INFER_GRAPH, TRACED_MANIFEST, TRACED_TRAIN_GRAPH,
)
from pipeline.sandbox.trainer import graph_rules
from pipeline.sandbox.trainer.initial_weights import BINARY_VECTOR, INITIALIZERS_MODULE, SEED_STATE
from pipeline.status import SubmissionFailure

_initializers: dict[int, object] = {}


def record_initializers() -> None:
    """Remember each Keras variable's initialiser as it is created (Keras keeps none), so the
    manifest can name it. Installed before model.py is imported."""
    original = keras_backend.Variable._initialize_with_initializer

    def remembering(variable, initializer):
        _initializers[id(variable)] = initializer
        return original(variable, initializer)

    keras_backend.Variable._initialize_with_initializer = remembering


def _only_keras_classes(config) -> bool:
    """Whether every object in a config is one of Keras' own (a registered student class is not)."""
    if isinstance(config, dict):
        if "class_name" in config and config.get("registered_name") not in (None, config["class_name"]):
            return False
        if "class_name" in config and not str(config.get("module") or "keras").startswith("keras"):
            return False
        return all(_only_keras_classes(value) for value in config.values())
    if isinstance(config, list):
        return all(_only_keras_classes(item) for item in config)
    return True


def keras_config(model) -> Optional[str]:
    """The model's config as JSON if Keras can rebuild it from its own classes alone, else None."""
    try:
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        if not _only_keras_classes(config):
            return None
        # Keras consumes the config it deserialises: try a copy.
        keras.saving.deserialize_keras_object(json.loads(json.dumps(config)), safe_mode=True)
    except Exception:  # noqa: BLE001 - custom classes, Lambda layers, unserialisable settings
        return None
    return json.dumps(config)


def _initializer_spec(variable) -> dict:
    if variable.path.endswith("seed_generator_state"):
        return {SEED_STATE: True}
    initializer = _initializers.get(id(variable))
    if isinstance(initializer, keras.initializers.Initializer) and \
            type(initializer).__module__.startswith("keras.src.initializers"):
        return keras.initializers.serialize(initializer) | {"module": INITIALIZERS_MODULE}
    value = np.asarray(variable)
    if value.ndim == 1 and np.isin(value, (0, 1)).all():
        # A Keras layer's own closure, such as the LSTM's unit-forget bias: a vector of 0s and 1s.
        return {BINARY_VECTOR: value.astype(int).tolist()}
    return {"custom": getattr(initializer, "__name__", type(initializer).__name__)}


def _layer_classes(model) -> dict[str, str]:
    """Layer name -> class name, for messages that name the student's layer."""
    return {layer.name: type(layer).__name__ for layer in model._flatten_layers(include_self=True)}


def trace(model, input_layout: tuple[int, ...], build_dir: Path, describe) -> dict:
    """Write the two graphs and the manifest; return the manifest. `describe(error)` turns an error
    raised by student code into the student's line."""
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
    specs = [tf.TensorSpec(v.shape, v.dtype) for v in trainable + non_trainable]
    specs.append(tf.TensorSpec((None, *input_layout), tf.float32))
    layers = _layer_classes(model)
    count = len(trainable)
    written = {}
    for training, name in ((True, TRACED_TRAIN_GRAPH), (False, TRACED_INFER_GRAPH)):
        def forward(*arguments, training=training):
            # Keras' stateless_call, but through __call__, so that `training` reaches inner layers
            # (a Dropout inside a call(self, x) that takes no `training`) as it does in fit.
            mapping = list(zip(trainable + non_trainable, arguments[:-1]))
            with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
                outputs = model(arguments[-1], training=training)
                losses = model.losses
            new_state = [scope.get_current_value(variable) for variable in non_trainable]
            loss = tf.add_n([tf.cast(item, tf.float32) for item in losses]) if losses else tf.constant(0.0)
            return [outputs, loss, *new_state]
        try:
            concrete = tf.function(forward).get_concrete_function(*specs)
            frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
        except Exception as error:  # noqa: BLE001 - Python in call() that a graph cannot hold
            raise SubmissionFailure(status.INVALID, f"the model cannot be traced into a graph: {describe(error)}: "
                                                    "write call() with keras.ops, without NumPy or Python "
                                                    "decisions on tensor values") from None
        graph_def = frozen.graph.as_graph_def()
        facts = graph_rules.check_graph(graph_def, layers)
        if facts.problem:
            raise SubmissionFailure(status.INVALID, facts.problem)
        (build_dir / name).write_bytes(graph_def.SerializeToString())
        written[name] = {"inputs": [tensor.name for tensor in frozen.inputs],
                         "outputs": [tensor.name for tensor in frozen.outputs]}
    manifest = {
        "input_layout": list(input_layout),
        "weights": [{"path": v.path, "shape": list(v.shape), "dtype": str(v.dtype), "trainable": v.trainable,
                     "initializer": _initializer_spec(v)} for v in trainable + non_trainable],
        "graphs": written,
        "layers": layers,
    }
    (build_dir / TRACED_MANIFEST).write_text(json.dumps(manifest))
    return manifest


def hand_over(model, input_layout: tuple[int, ...], build_dir: Path, describe) -> str:
    """Write what the train step gets; return its kind: "keras" (a config) or "traced" (graphs)."""
    config = keras_config(model)
    if config is not None:
        (build_dir / MODEL_CONFIG_FROM_BUILD).write_text(config)
        return "keras"
    trace(model, input_layout, build_dir, describe)
    return "traced"
