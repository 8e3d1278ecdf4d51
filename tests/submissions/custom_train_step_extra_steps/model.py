"""Fixture (hostile): a keras.Sequential subclass whose train_step takes three optimizer steps
per batch (three times the schedule's updates) -> invalid ("overrides train_step")."""

import keras
import tensorflow as tf
from keras import layers


class ThreeSteps(keras.Sequential):
    def train_step(self, data):
        x, y = data
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return {"loss": loss}


def build_model(input_shape, num_classes):
    return ThreeSteps([keras.Input(shape=input_shape), layers.Flatten(),
                       layers.Dense(num_classes, activation="softmax")])
