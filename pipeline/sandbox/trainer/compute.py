"""Compute per prediction: the floating-point operations of one image's forward pass at inference,
counted by TensorFlow's own profiler on the graph the trainer runs, and the inference throughput.

The count comes from the model the train step loaded (no student code is in this process): a
Keras-layers model is traced here with a batch of one; a custom model's inference graph (built by
tracing.py in the build step and checked by graph_rules) is imported with a batch-of-one input.
Either way only the operations the prediction depends on are kept (a regularisation loss or a
state update is not part of a prediction), and `tf.compat.v1.profiler` with
`ProfileOptionBuilder.float_operation()` sums each operation's registered FLOPs: 2 per
multiply-add in MatMul and Conv2D, 1 per element in BiasAdd, Add, Mul and the like, one per
window element in pooling. Operations TensorFlow registers no count for (Relu, Tanh, Sigmoid,
reshapes) count 0; docs/students/compute.md lists what is and is not counted.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import graph_util_impl, ops as tf_ops
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

# The name the counted graph's one-image input gets (imported nodes go under a prefix, so no clash).
ONE_IMAGE = "one_image"
IMPORTED = "counted"
# Loops, conditions and nested functions: the profiler sees the call, never the operations inside,
# so a graph holding one has no count (and a track with a compute budget refuses it).
# (Enter and LoopCond mark a loop in a graph whose control flow is lowered, as a frozen one's is.)
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


def _profiled_flops(graph_def, image_input: str, output: str, layout: tuple[int, ...]) -> int:
    """FLOPs of the operations `output` depends on, with a batch of one image fed to `image_input`."""
    needed = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [output.split(":")[0]])
    hidden = sorted({node.op for node in needed.node} & UNCOUNTABLE)
    if hidden or needed.library.function:
        raise NotCountable(f"its graph holds {', '.join(hidden) or 'functions'} (a loop, a condition or a nested "
                           "function: a recurrent layer, tf.while_loop, tf.cond, an inner tf.function), whose "
                           "operations TensorFlow's profiler does not count: build the model without them")
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (1, *layout), name=ONE_IMAGE)
        # A prediction that ignores its input (a constant model) keeps no input to feed.
        feeds = ({image_input: image} if any(node.name == image_input.split(":")[0] for node in needed.node)
                 else {})
        tf.graph_util.import_graph_def(needed, input_map=feeds, name=IMPORTED)
    # An operation of unknown size (one that depends on the image's values) would count as 0. (The
    # traced graph's own image input, replaced by the one-image input, is left without consumers.)
    unsized = sorted({op.type for op in graph.get_operations() for tensor in op.outputs
                      if not tensor.shape.is_fully_defined() and tensor.consumers()})
    if unsized:
        raise NotCountable(f"its graph has {', '.join(unsized)} results whose size depends on the image's values, "
                           "which cannot be counted: keep every shape fixed")
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def keras_model_flops(model, layout: tuple[int, ...]) -> int:
    """A model of Keras' own layers: its inference call traced with one image, weights frozen in."""
    concrete = tf.function(lambda images: model(images, training=False)).get_concrete_function(
        tf.TensorSpec((1, *layout), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    return _profiled_flops(frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name, layout)


def traced_model_flops(inference_graph_def, image_input: str, prediction_output: str,
                       layout: tuple[int, ...]) -> int:
    """A custom model: the build step's inference graph (weights are its inputs, left unfed)."""
    return _profiled_flops(inference_graph_def, image_input, prediction_output, layout)


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
