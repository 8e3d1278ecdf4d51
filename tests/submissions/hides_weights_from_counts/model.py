"""Fixture (hostile): a layer that hides its big kernel from every count: its `weights`,
`trainable_weights` and `trainable_variables` leave it out and count_params() says 10. The
trainer counts the weights Keras tracks and the constants of the traced graph, never what the
layer answers -> ok, with all 406,528 parameters counted (a kernel hidden from Keras' own
tracking would reach the graph as a constant, which counts and is capped).
"""

import keras
from keras import layers, ops


class Modest(layers.Layer):
    def build(self, input_shape):
        self.secret = self.add_weight(shape=(input_shape[-1], 512), initializer="glorot_uniform", name="secret")
        self.kernel = self.add_weight(shape=(512, 10), initializer="glorot_uniform", name="kernel")

    @property
    def trainable_weights(self):
        return [self.kernel]

    @property
    def trainable_variables(self):
        return [self.kernel]

    @property
    def weights(self):
        return [self.kernel]

    def count_params(self):
        return 10

    def call(self, inputs):
        return ops.matmul(ops.relu(ops.matmul(inputs, self.secret)), self.kernel)


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layers.Softmax()(Modest()(layers.Flatten()(inputs))))
