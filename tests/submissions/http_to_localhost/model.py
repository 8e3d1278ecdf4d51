"""Fixture: tries to send data over HTTP to a server the test runs on this machine.

attack.json (written by the test) holds the URLs to try. In the sandbox every request must fail
(new network namespace: only its own, empty loopback); the model itself is fine -> ok.
"""

import json
import socket
import urllib.request
from pathlib import Path

import keras
from keras import layers

HERE = Path(__file__).resolve().parent


def build_model(input_shape, num_classes):
    attack = json.loads((HERE / "attack.json").read_text())
    for url in attack["urls"]:
        try:
            with urllib.request.urlopen(url + "?exfiltrated=hello", timeout=3) as response:
                print(f"NETWORK REACHED {url}: {response.status}", flush=True)
        except Exception as error:  # noqa: BLE001
            print(f"network blocked for {url}: {type(error).__name__}: {error}", flush=True)
    try:
        print("DNS resolved:", socket.gethostbyname("example.com"), flush=True)
    except OSError as error:
        print(f"DNS blocked: {error}", flush=True)
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
