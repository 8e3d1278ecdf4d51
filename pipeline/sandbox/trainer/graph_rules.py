"""The operations a traced custom model may contain, and the size of what its graph carries.

A custom model reaches the train step as a TensorFlow graph (tracing.py writes it in the build
step). The train step checks it here before anything of it runs: every operation, in the graph
and in the functions it calls (loops, conditions), must be on the allow-list below. What is left
out is what would let a graph act outside the arithmetic the trainer feeds it: Python callbacks,
files, printing, variables of its own, and random numbers not driven by the seed state the
trainer passes in. The same check runs in the build step too, only so that a student hears about
a problem at once; the train step's check is the one that counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

# Keras' model classes, which hold the student's layers rather than being one.
KERAS_CONTAINERS = ("Functional", "Sequential")
# A constant of at most this many values is a hyperparameter (a shape, a scale, a 3x3 filter);
# a larger one counts as parameters, as a weight would.
SMALL_CONSTANT = 64

# Arithmetic, shapes, activations, reductions, convolutions, pooling, control flow and the
# stateless random ops that Keras' own seeded layers (Dropout, noise) trace to.
ALLOWED_OPS = frozenset("""
Abs Acos Acosh Add AddN AddV2 All Any ApproximateEqual ArgMax ArgMin Asin Asinh Atan Atan2 Atanh
AvgPool AvgPool3D AvgPoolGrad BatchMatMul BatchMatMulV2 BatchMatMulV3 BiasAdd BiasAddGrad BiasAddV1
BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift RightShift PopulationCount
BroadcastArgs BroadcastGradientArgs BroadcastTo Bitcast Bucketize Cast Ceil CheckNumerics ClipByValue Complex
ComplexAbs Concat ConcatOffset ConcatV2 Conj Const Conv2D Conv2DBackpropFilter Conv2DBackpropInput
Conv3D Cos Cosh Cumprod Cumsum DepthToSpace DepthwiseConv2dNative DepthwiseConv2dNativeBackpropFilter
DepthwiseConv2dNativeBackpropInput Diag DiagPart Digamma Div DivNoNan DynamicStitch Einsum Elu EluGrad
Empty EnsureShape Enter Equal Erf Erfc Exit Exp ExpandDims Expm1 ExtractImagePatches Fill Floor FloorDiv
FloorMod FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 Gather GatherNd GatherV2 Greater GreaterEqual
Identity IdentityN If Imag InvertPermutation IsFinite IsInf IsNan L2Loss LeakyRelu LeakyReluGrad Less
LessEqual Lgamma LinSpace Log Log1p LogSoftmax LogicalAnd LogicalNot LogicalOr LoopCond LRN MatMul
MatrixBandPart MatrixDiag MatrixDiagPart MatrixDiagPartV3 MatrixDiagV3 Max MaxPool MaxPool3D MaxPoolGrad
MaxPoolV2 MaxPoolWithArgmax Maximum Mean Merge Min Minimum MirrorPad Mod Mul MulNoNan Neg NextIteration
NoOp NotEqual OneHot OnesLike Pack Pad PadV2 PartitionedCall Placeholder PlaceholderWithDefault Pow
PreventGradient Prod Range Rank Real RealDiv Reciprocal Relu Relu6 Relu6Grad ReluGrad Reshape
ResizeBilinear ResizeNearestNeighbor Reverse ReverseV2 Rint Round Rsqrt Select SelectV2 Selu Shape
ShapeN Sigmoid SigmoidGrad Sign Sin Sinh Size Slice Snapshot Softmax SoftmaxCrossEntropyWithLogits
Softplus Softsign SpaceToDepth Split SplitV Sqrt Square SquaredDifference Squeeze StatefulPartitionedCall StatelessIf
StatelessMultinomial StatelessRandomBinomial StatelessRandomGetAlg StatelessRandomGetKeyCounter
StatelessRandomGetKeyCounterAlg StatelessRandomNormal StatelessRandomNormalV2 StatelessRandomUniform
StatelessRandomUniformFullInt StatelessRandomUniformFullIntV2 StatelessRandomUniformInt
StatelessRandomUniformIntV2 StatelessRandomUniformV2 StatelessTruncatedNormal StatelessTruncatedNormalV2
StatelessWhile StopGradient StridedSlice StridedSliceGrad Sub Sum Switch Tan Tanh TanhGrad Tile TopKV2
Transpose TruncateDiv TruncateMod Unpack UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentSum Roll ScatterNd
SegmentMax SegmentMean SegmentMin SegmentSum TensorScatterAdd TensorScatterUpdate SparseSoftmaxCrossEntropyWithLogits
EmptyTensorList TensorListElementShape TensorListFromTensor TensorListGetItem TensorListLength TensorListReserve
TensorListSetItem TensorListStack ResizeArea ResizeBicubic ReverseSequence MatrixSetDiagV3 Erfinv Ndtri
Where While Xdivy Xlog1py Xlogy ZerosLike
""".split())

# Why the commonest refused operations are refused, in the words a student needs.
REFUSED = {
    "PyFunc": "runs Python at training time (tf.py_function / tf.numpy_function): write it with keras.ops",
    "PyFuncStateless": "runs Python at training time (tf.numpy_function): write it with keras.ops",
    "EagerPyFunc": "runs Python at training time (tf.py_function): write it with keras.ops",
    "ReadVariableOp": "reads a variable of its own: create weights with self.add_weight in build()",
    "AssignVariableOp": "changes a variable while it runs: only the trainer updates weights",
    "AssignAddVariableOp": "changes a variable while it runs: only the trainer updates weights",
    "AssignSubVariableOp": "changes a variable while it runs: only the trainer updates weights",
    "VarHandleOp": "creates a variable of its own: create weights with self.add_weight in build()",
    "Print": "prints while it runs (tf.print): remove it",
    "PrintV2": "prints while it runs (tf.print): remove it",
    "StringFormat": "formats text while it runs (tf.print): remove it",
    "ReadFile": "reads files while it runs: a model gets nothing but its input",
    "WriteFile": "writes files while it runs: remove it",
    "ImmutableConst": "maps a file into memory: a model gets nothing but its input",
    "RandomUniform": "draws random numbers with a seed of its own: use keras.random with a keras.random.SeedGenerator",
    "RandomStandardNormal": "draws random numbers with a seed of its own: use keras.random with a "
                            "keras.random.SeedGenerator",
    "TruncatedNormal": "draws random numbers with a seed of its own: use keras.random with a "
                       "keras.random.SeedGenerator",
    "RandomUniformInt": "draws random numbers with a seed of its own: use keras.random with a "
                        "keras.random.SeedGenerator",
}


@dataclass(frozen=True)
class GraphFacts:
    """What the check found: the first refused operation (or None) and the large constants' size."""

    problem: Optional[str]
    constant_values: int  # values in constants larger than SMALL_CONSTANT, counted as parameters
    largest_constant_in: Optional[str] = None  # the student's layer holding the largest one, if known


def _all_nodes(graph_def) -> Iterable[tuple[str, object]]:
    """(where, node) for every node of the graph and of every function in its library."""
    for node in graph_def.node:
        yield "", node
    for function in graph_def.library.function:
        for node in function.node_def:
            yield function.signature.name, node


def layer_of(node_name: str, layer_classes: dict[str, str]) -> Optional[str]:
    """The student's class whose call() made this node, from the Keras name scope in its name
    ("net/my_scale/mul" -> "MyScale"): the innermost scope that is a layer of the model."""
    for part in reversed(node_name.split("/")[:-1]):
        # TensorFlow makes a scope unique with a suffix ("my_scale_1") when a layer runs again.
        for name in (part, re.sub(r"_\d+$", "", part)):
            if name in layer_classes and not layer_classes[name].startswith(KERAS_CONTAINERS):
                return layer_classes[name]
    return None


def constant_size(node) -> int:
    shape = node.attr["value"].tensor.tensor_shape
    if shape.unknown_rank:
        return 0
    return int(np.prod([dim.size for dim in shape.dim], dtype=np.int64))


FIXED_SEED = ("draws random numbers from a fixed seed of its own: give the layer a keras.random.SeedGenerator "
              "and pass it as seed=, so the track's seed drives it")


def _seed_inputs(node) -> list[str]:
    """The inputs a stateless random op takes its seed (or key) from: all of them for the op that
    turns a seed into a key, every input but the shape for the others."""
    inputs = [name for name in node.input if not name.startswith("^")]
    return inputs if node.op.startswith("StatelessRandomGetKeyCounter") else inputs[1:]


def _reaches_an_input(start: list[str], nodes: dict) -> bool:
    """Whether any of these tensors depends on a graph input (a weight, the random-number state)."""
    seen, stack = set(), [name.split(":")[0].lstrip("^") for name in start]
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        if nodes[name].op == "Placeholder":
            return True
        stack.extend(item.split(":")[0].lstrip("^") for item in nodes[name].input)
    return False


def check_graph(graph_def, layer_classes: dict[str, str], source_name: str = "model.py") -> GraphFacts:
    """Every operation on the allow-list? Returns the first problem in a student's words, and the
    number of values the graph's large constants carry."""
    problem, constants, largest, largest_in = None, 0, 0, None
    for where, node in _all_nodes(graph_def):
        if node.op == "Const":
            size = constant_size(node)
            if size > SMALL_CONSTANT:
                constants += size
                if size > largest:
                    largest, largest_in = size, layer_of(node.name, layer_classes)
            continue
        if problem is None and node.op not in ALLOWED_OPS:
            owner = layer_of(node.name, layer_classes)
            place = f"{source_name}, {owner}.call" if owner else source_name
            reason = REFUSED.get(node.op, f"uses the TensorFlow operation {node.op}, which grading does not allow: "
                                          "write the layer with keras.ops")
            problem = f"{place}: {reason}"
    if problem is None:
        problem = _fixed_seed_problem(graph_def, layer_classes, source_name)
    return GraphFacts(problem, constants, largest_in)


def _fixed_seed_problem(graph_def, layer_classes: dict[str, str], source_name: str) -> Optional[str]:
    """Random numbers must come from the random-number state the trainer passes in (seeded with
    the track's seed), not from a seed written into the graph. Checked in the graph itself; ops in
    a loop's body take their seed through the loop and are left to the loop's inputs."""
    nodes = {node.name: node for node in graph_def.node}
    for node in graph_def.node:
        if (node.op.startswith(("StatelessRandom", "StatelessTruncatedNormal", "StatelessMultinomial"))
                and node.op != "StatelessRandomGetAlg" and not _reaches_an_input(_seed_inputs(node), nodes)):
            owner = layer_of(node.name, layer_classes)
            return f"{source_name}, {owner}.call: {FIXED_SEED}" if owner else f"{source_name}: {FIXED_SEED}"
    return None
