"""Fixture (hostile): a feature extractor trained at home, shipped as pretrained.npz beside
model.py, loaded into frozen layers, with a small trainable head on top (the "transfer learning"
shortcut). Weights shipped with a submission are never trained on or scored: the frozen layer
starts from its initialiser like any other -> ok, with the predictions of the same code graded
without the file, and every frozen parameter counted.
"""

from pathlib import Path

import keras
import numpy as np
from keras import layers

HERE = Path(__file__).resolve().parent


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    features = layers.Dense(64, activation="relu", trainable=False, name="pretrained_features")
    head = layers.Dense(num_classes, activation="softmax", name="head")
    model = keras.Model(inputs, head(features(flat)))
    weights_file = HERE / "pretrained.npz"
    if weights_file.exists():
        with np.load(weights_file) as saved:
            features.set_weights([saved["kernel"], saved["bias"]])
        print("loaded the home-trained feature extractor", flush=True)
    return model
