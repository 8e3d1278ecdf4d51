"""The train step's side of a custom model: its traced graphs, run with weights the trainer owns.

`TracedGraph` is a Keras layer written by the project. It creates every weight the manifest lists
from a Keras initialiser (initial_weights.py), calls the forward graph with those weights and the
batch, adds the graph's regularisation loss, and writes back the new non-trainable state (moving
statistics, random-number state). The optimizer, the gradients and the schedule are Keras'
ordinary `fit` on a model holding this layer: no Python of the student's is in the process.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline import status
from pipeline.sandbox.exchange import MAX_BUILD_FILE_BYTES, TRACED_INFER_GRAPH, TRACED_MANIFEST, TRACED_TRAIN_GRAPH
from pipeline.sandbox.trainer import graph_rules
from pipeline.sandbox.trainer.initial_weights import (
    BINARY_VECTOR, SEED_STATE, binary_vector, initializer_from_spec, seed_state,
)
from pipeline.status import SubmissionFailure

ALLOWED_DTYPES = ("float16", "bfloat16", "float32", "float64", "int32", "int64", "uint32")


def _read_graph(path: Path):
    if not path.is_file() or path.stat().st_size > MAX_BUILD_FILE_BYTES:
        raise SubmissionFailure(status.INVALID, f"the build step's {path.name} is missing or over "
                                                f"{MAX_BUILD_FILE_BYTES // 2**20} MB")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception:  # noqa: BLE001 - a garbled file is the build's failure
        raise SubmissionFailure(status.INVALID, f"the build step's {path.name} is not a graph") from None
    return graph_def


def _callable(graph_def, inputs: list[str], outputs: list[str]):
    """The graph as a function of its inputs, imported without running anything of it."""
    wrapped = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph_def, name=""), [])
    graph = wrapped.graph
    placeholders = sorted(op.name for op in graph.get_operations() if op.type == "Placeholder")
    if placeholders != sorted(name.split(":")[0] for name in inputs):
        raise SubmissionFailure(status.INVALID, "the traced graph takes other inputs than its weights and images")
    return wrapped.prune([graph.as_graph_element(name) for name in inputs],
                         [graph.as_graph_element(name) for name in outputs])


class TracedGraph(keras.layers.Layer):
    """A student's traced model as one layer whose weights, updates and losses are the trainer's."""

    def __init__(self, forward_train, forward_infer, weight_specs: list[dict], seed: int, **kwargs):
        super().__init__(**kwargs)
        self._forward = {True: forward_train, False: forward_infer}
        self.specs = weight_specs
        self.graph_weights = []
        seed_states = 0
        for index, spec in enumerate(weight_specs):
            where = f"weight {spec['path']}"
            if spec["initializer"].get(SEED_STATE):
                initializer = seed_state(seed, seed_states, spec["dtype"])
                seed_states += 1
            elif BINARY_VECTOR in spec["initializer"]:
                initializer = binary_vector(spec["initializer"], spec["shape"], spec["dtype"], where)
            else:
                initializer = initializer_from_spec(spec["initializer"], where)
            self.graph_weights.append(self.add_weight(
                shape=tuple(spec["shape"]), dtype=spec["dtype"], initializer=initializer,
                trainable=bool(spec["trainable"]), name=f"w{index}"))
        self.state = [weight for weight in self.graph_weights if not weight.trainable]

    def call(self, inputs, training=False):
        outputs = self._forward[bool(training)](*[tf.convert_to_tensor(w) for w in self.graph_weights], inputs)
        if training:
            self.add_loss(outputs[1])
            for weight, value in zip(self.state, outputs[2:]):
                weight.assign(value)
        return outputs[0]


def _checked_specs(manifest: dict) -> list[dict]:
    weights = manifest.get("weights")
    if not isinstance(weights, list):
        raise SubmissionFailure(status.INVALID, "the build step's manifest lists no weights")
    trainable_first = [bool(w.get("trainable")) for w in weights]
    if trainable_first != sorted(trainable_first, reverse=True):
        raise SubmissionFailure(status.INVALID, "the build step's manifest does not list trainable weights first")
    for spec in weights:
        shape, dtype = spec.get("shape"), spec.get("dtype")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)) or \
                dtype not in ALLOWED_DTYPES or not isinstance(spec.get("initializer"), dict):
            raise SubmissionFailure(status.INVALID, f"the build step's manifest has a bad weight: {str(spec)[:120]}")
        if spec["initializer"].get(SEED_STATE) and (shape != [2] or not dtype.startswith(("int", "uint"))):
            raise SubmissionFailure(status.INVALID, "the build step's manifest calls a weight random-number state "
                                                    f"that is not one: {spec.get('path')}")
    return weights


def architecture(graph_def, specs: list[dict]) -> dict:
    """What the model is, without any name: its inference graph's operations in order and its
    weights' shapes, for the duplicate check."""
    return {"traced": {"ops": [node.op for node in graph_def.node],
                       "weights": [[spec["shape"], spec["dtype"], bool(spec["trainable"])] for spec in specs]}}


def load(build_dir: Path, seed: int, max_constants: int) -> tuple[keras.Model, int, dict]:
    """(model, constant values, architecture): the traced model as a Keras model with the trainer's
    weights, the number of values its graphs' large constants hold (counted as parameters), and
    its nameless architecture."""
    try:
        manifest = json.loads((build_dir / TRACED_MANIFEST).read_text())
        layout = tuple(int(d) for d in manifest["input_layout"])
        layers = {str(k): str(v) for k, v in dict(manifest.get("layers") or {}).items()}
        io = {name: (list(map(str, manifest["graphs"][name]["inputs"])), list(map(str, manifest["graphs"][name]["outputs"])))
              for name in (TRACED_TRAIN_GRAPH, TRACED_INFER_GRAPH)}
    except (OSError, ValueError, KeyError, TypeError):
        raise SubmissionFailure(status.INVALID, "the build step's manifest is missing or unreadable") from None
    specs = _checked_specs(manifest)
    forwards, constants = {}, 0
    for name in (TRACED_TRAIN_GRAPH, TRACED_INFER_GRAPH):
        graph_def = _read_graph(build_dir / name)
        facts = graph_rules.check_graph(graph_def, layers)
        if facts.problem:
            raise SubmissionFailure(status.INVALID, facts.problem)
        constants = max(constants, facts.constant_values)
        if facts.constant_values > max_constants:
            owner = f"model.py, {facts.largest_constant_in}.call" if facts.largest_constant_in else "model.py"
            raise SubmissionFailure(status.INVALID, f"{owner}: carries {facts.constant_values:,} values as constants "
                                                    f"(arrays used in call(), or weights the model does not list), "
                                                    f"over this track's {max_constants:,} (limits.max_constant_params): "
                                                    "make them weights with self.add_weight, which train from their "
                                                    "initialisers")
        inputs, outputs = io[name]
        if len(inputs) != len(specs) + 1 or len(outputs) != 2 + sum(not s["trainable"] for s in specs):
            raise SubmissionFailure(status.INVALID, "the traced graph's inputs and outputs do not match its weights")
        forwards[name] = _callable(graph_def, inputs, outputs)
        if name == TRACED_INFER_GRAPH:
            described = architecture(graph_def, specs)
    layer = TracedGraph(forwards[TRACED_TRAIN_GRAPH], forwards[TRACED_INFER_GRAPH], specs, seed, name="traced_model")
    model = keras.Sequential([keras.Input(layout), layer], name="traced")
    model(np.zeros((2, *layout), np.float32))  # a wrong shape or dtype fails here, before training
    return model, constants, described
