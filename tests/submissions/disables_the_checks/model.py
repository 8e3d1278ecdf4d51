"""Fixture (hostile): has read the grader's source, so it switches off the graph check in the
build step (replacing graph_rules.check_graph with one that finds nothing) and then runs Python
in its layer at training time with tf.py_function (which could do anything: read files, count
calls, change numbers). The build's check is only a courtesy; the train step checks the graph
itself before anything of it runs -> invalid, naming the layer and the fix.
"""

import importlib

import keras
import tensorflow as tf
from keras import layers

rules = importlib.import_module("pipeline.sandbox.trainer.graph_rules")
rules.check_graph = lambda graph_def, layers, source_name="model.py": rules.GraphFacts(None, 0)
rules.ALLOWED_OPS = frozenset(list(rules.ALLOWED_OPS) + ["EagerPyFunc", "PyFunc"])


def _anything(x):
    return x  # in a real attack: read the hidden inputs, count calls, rewrite outputs


class Sneaky(layers.Layer):
    def call(self, inputs):
        outputs = tf.py_function(_anything, [inputs], tf.float32)
        outputs.set_shape(inputs.shape)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Reshape((784,))(Sneaky()(x))
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
