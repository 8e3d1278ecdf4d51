"""Compute per prediction: the floating-point operations of one image's forward pass at inference,
counted by trusted code on the graph the trainer runs, and the inference throughput.

The count comes from the model the train step loaded (no student code is in this process): a
Keras-layers model is traced here with a batch of one; a custom model's inference graph (built by
tracing.py in the build step and checked by graph_rules) is imported with a batch-of-one input.
Each operation the prediction depends on (a regularisation loss or a state update is not part of
one) gets the FLOPs TensorFlow's profiler registers for it, the figures that
`tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.float_operation())` sums: 2 per
multiply-add in MatMul and Conv2D, 1 per element in BiasAdd, Add, Mul and the like, one per window
element in pooling. Operations TensorFlow registers no count for (Relu, Tanh, Sigmoid, reshapes)
count 0, except Einsum, registered here like MatMul; loops, nested functions and value-dependent
sizes, which would count as 0, make the model uncountable instead. docs/students/compute.md lists
what is and is not counted.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import graph_util_impl, ops as tf_ops

# The name the counted graph's one-image input gets (imported nodes go under a prefix, so no clash).
ONE_IMAGE = "one_image"
IMPORTED = "counted"
# Loops, conditions and nested functions: the profiler sees the call, never the operations inside,
# so a graph holding one has no count (and a track with a compute budget refuses it). (Enter and
# LoopCond mark a loop whose control flow is lowered.)
UNCOUNTABLE = frozenset({"PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile", "If",
                         "StatelessIf", "Enter", "LoopCond"})


class NotCountable(ValueError):
    """The graph's FLOPs cannot be counted; the message says why, in a student's words."""


def _einsum_flops(graph, node):
    """Einsum, which TensorFlow registers no count for (keras.ops.einsum, EinsumDense): one
    multiply-add (2 FLOPs) per combination of its indices' values, as MatMul is counted."""
    operands = node.attr["equation"].s.decode().replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for operand, name in zip(operands, node.input):
        shape = graph_util_impl.tensor_shape_from_node_def_name(graph, name)
        shape.assert_is_fully_defined()
        dims = shape.as_list()
        named = list(operand)
        if "..." in operand:
            # Ellipsis dimensions are named by their place from the right, as einsum broadcasts them.
            before, after = operand.split("...")
            broadcast = len(dims) - len(before) - len(after)
            named = [*before, *(f"...{broadcast - i}" for i in range(broadcast)), *after]
        for label, size in zip(named, dims):
            sizes[label] = max(sizes.get(label, 1), size)
    return tf_ops.OpStats("flops", (2 if len(operands) > 1 else 1) * math.prod(sizes.values()))


try:
    tf_ops.RegisterStatistics("Einsum", "flops")(_einsum_flops)
except KeyError:  # registered already (a TensorFlow that counts Einsum itself)
    pass


def _ancestors(output) -> list:
    """The operations `output` is computed from (a regularisation loss or a state update is not)."""
    seen, stack, needed = set(), [output.op], []
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen.add(op.name)
            needed.append(op)
            stack.extend(tensor.op for tensor in op.inputs)
    return needed


def counted_flops(output) -> int:
    """The FLOPs TensorFlow's profiler registers for each operation `output` depends on, summed:
    what `tf.compat.v1.profiler.profile(graph, options=float_operation())` totals, restricted to
    the prediction and refusing what it would silently count as 0."""
    needed = _ancestors(output)
    hidden = sorted({op.type for op in needed} & UNCOUNTABLE)
    if hidden:
        raise NotCountable(f"its graph holds {', '.join(hidden)} (a loop, a condition or a nested "
                           "function: a recurrent layer, tf.while_loop, tf.cond, an inner tf.function), whose "
                           "operations TensorFlow's profiler does not count: build the model without them")
    # An operation of unknown size (one that depends on the image's values) would count as 0.
    unsized = sorted({op.type for op in needed for tensor in op.outputs
                      if not tensor.shape.is_fully_defined() and (tensor is output or tensor.consumers())})
    if unsized:
        raise NotCountable(f"its graph has {', '.join(unsized)} results whose size depends on the image's values, "
                           "which cannot be counted: keep every shape fixed")
    return sum(int(tf_ops.get_stats_for_node_def(op.graph, op.node_def, "flops").value or 0) for op in needed)


def keras_model_flops(model, layout: tuple[int, ...]) -> int:
    """A model of Keras' own layers: its inference call traced with one image."""
    concrete = tf.function(lambda images: model(images, training=False)).get_concrete_function(
        tf.TensorSpec((1, *layout), tf.float32))
    return counted_flops(concrete.outputs[0])


def traced_model_flops(inference_graph_def, image_input: str, prediction_output: str,
                       layout: tuple[int, ...]) -> int:
    """A custom model: the build step's inference graph, imported with a one-image input (its
    weights are inputs, left unfed: only their shapes matter)."""
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (1, *layout), name=ONE_IMAGE)
        tf.graph_util.import_graph_def(inference_graph_def, input_map={image_input: image}, name=IMPORTED)
    return counted_flops(graph.get_tensor_by_name(f"{IMPORTED}/{prediction_output}"))


def flops_per_image(model, traced: bool, layout: tuple[int, ...]) -> int:
    """FLOPs of one image's forward pass at inference, for the model the trainer loaded."""
    if traced:
        layer = model.get_layer("traced_model")
        return traced_model_flops(layer.inference_graph_def, layer.image_input, layer.prediction_output, layout)
    return keras_model_flops(model, layout)


def count(model, traced: bool, layout: tuple[int, ...]) -> dict:
    """{"mflops_per_image", "count_seconds"}: the count and what counting it cost (logged)."""
    started = time.perf_counter()
    flops = flops_per_image(model, traced, layout)
    return {"mflops_per_image": flops / 1e6, "count_seconds": time.perf_counter() - started}


def images_per_second(images: int, seconds: float) -> float | None:
    """Throughput of a timed prediction pass (None when it was too quick to time)."""
    return float(images / seconds) if seconds > 0 and np.isfinite(seconds) else None
