"""Fixture: hunts for the hidden test labels and, if it finds them, cheats with them.

It tries the paths an attacker would guess (the test writes them into attack.json beside this
file: the real prepared-data folder, `../../data/prepared/...`), then walks the whole visible
filesystem for label-like .npy files. Anything found is copied to `drop_path` (a folder the test
checks) and used to overwrite the predictions with the true labels when the process exits, so a
leak would show up as a perfect score. Inside the sandbox it must find nothing.
"""

import atexit
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

import keras
from keras import layers

HERE = Path(__file__).resolve().parent
SKIP = {"/proc", "/sys", "/dev"}
WALK_SECONDS = 20


def label_like(path: str, hidden_count: int) -> bool:
    """hidden_y*.npy by name, or any 1-D integer array as long as the hidden inputs."""
    if os.path.basename(path).startswith("hidden_y"):
        return True
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception:  # noqa: BLE001 - unreadable or not an array
        return False
    return array.ndim == 1 and array.dtype.kind in "iu" and len(array) == hidden_count


def hunt(hidden_count: int, guesses: list[str]) -> list[str]:
    found = [path for path in guesses if os.path.isfile(path) and label_like(path, hidden_count)]
    # The layout of the repository, seen from submissions/<id>/: ../../data/prepared/<dataset>/.
    found += [str(path) for path in HERE.parent.parent.glob("data/prepared/*/hidden_y*.npy") if str(path) not in found]
    if found:
        return found  # no need to search further
    deadline = time.monotonic() + WALK_SECONDS
    for root, dirs, names in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        if time.monotonic() > deadline:
            print("hunt: gave up walking (time budget)", flush=True)
            break
        for name in names:
            if name.endswith(".npy") and ("hidden" in name or "label" in name or "_y" in name):
                path = os.path.join(root, name)
                if path not in found and label_like(path, hidden_count):
                    found.append(path)
    return found


def cheat(labels: np.ndarray, num_classes: int) -> None:
    """After the trainer wrote its predictions, replace them with the stolen labels (one-hot)."""
    def overwrite():
        one_hot = np.eye(num_classes, dtype=np.float32)[labels.astype(int)]
        np.save(os.path.join(os.getcwd(), "out", "predictions.npy"), one_hot)
    atexit.register(overwrite)


def build_model(input_shape, num_classes):
    attack = json.loads((HERE / "attack.json").read_text()) if (HERE / "attack.json").exists() else {}
    hidden_count = len(np.load("hidden_x.npy", mmap_mode="r")) if os.path.exists("hidden_x.npy") else -1
    found = hunt(hidden_count, attack.get("guesses", []))
    print(f"HUNT RESULT: found {len(found)} label file(s): {found}", flush=True)
    for index, path in enumerate(found):
        try:
            drop = Path(attack["drop_dir"]) / f"stolen_{index}.npy"
            shutil.copyfile(path, drop)
            print(f"copied {path} to {drop}", flush=True)
        except (KeyError, OSError) as error:
            print(f"could not copy {path} out: {error}", flush=True)
    for path in found:
        labels = np.load(path)
        if len(labels) >= hidden_count > 0:
            cheat(labels[:hidden_count], num_classes)
            break
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(num_classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)
