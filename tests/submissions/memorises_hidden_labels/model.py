"""Fixture (hostile): MNIST's hidden split is the public t10k set, so this student ships it
(lookup.npz: the images and labels) and builds a nearest-template lookup: one frozen Dense unit
per test image (its pixels as the kernel), a sharp softmax, then a frozen Dense mapping each
template to its label. The lookup's weights are never used (every weight starts from its
initialiser) and its frozen parameters are counted against the budget -> ok with the predictions
of the same code without the file, and every one of its parameters counted.
"""

from pathlib import Path

import keras
import numpy as np
from keras import layers

HERE = Path(__file__).resolve().parent


def build_model(input_shape, num_classes):
    lookup = np.load(HERE / "lookup.npz") if (HERE / "lookup.npz").exists() else None
    templates = 300 if lookup is None else len(lookup["y"])
    inputs = keras.Input(shape=input_shape)
    flat = layers.Flatten()(inputs)
    match = layers.Dense(templates, trainable=False, name="templates")
    to_label = layers.Dense(num_classes, use_bias=False, trainable=False, name="labels")
    scores = to_label(layers.Softmax()(match(flat) * 50.0))
    outputs = layers.Activation("softmax")(layers.Dense(num_classes, name="head")(scores))
    model = keras.Model(inputs, outputs)
    if lookup is not None:
        images = lookup["x"].reshape(len(lookup["x"]), -1).astype("float32")
        images /= np.linalg.norm(images, axis=1, keepdims=True)
        match.set_weights([images.T, np.zeros(templates, "float32")])
        to_label.set_weights([np.eye(num_classes, dtype="float32")[lookup["y"]]])
    return model
