"""Duplicate detection: normalised source (comments, docstrings, formatting ignored) and
normalised Keras architecture (layer and model names ignored)."""

import keras
from keras import layers

from pipeline.grading import duplicates

SOURCE = '''"""My model."""
import keras


def build_model(input_shape, num_classes):
    """Build it."""
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Dense(num_classes)])
'''


def write(folder, text):
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(text)
    return folder


def test_source_ignores_comments_docstrings_and_formatting(tmp_path):
    original = write(tmp_path / "a", SOURCE)
    disguised = write(tmp_path / "b", SOURCE.replace('"""My model."""', '"""Entirely my own work."""')
                      .replace('    """Build it."""\n', "    # builds the model\n")
                      .replace("[keras.Input(shape=input_shape), ", "[\n        keras.Input(shape=input_shape),\n        "))
    renamed = write(tmp_path / "c", SOURCE.replace("num_classes", "n_classes"))
    broken = write(tmp_path / "d", "def build_model(:\n")
    assert duplicates.source_hash(original) == duplicates.source_hash(disguised)
    assert duplicates.source_hash(original) != duplicates.source_hash(renamed)
    assert duplicates.source_hash(broken) is None


def sequential(units, name_prefix):
    return keras.Sequential([keras.Input((28, 28)), layers.Flatten(name=f"{name_prefix}_flat"),
                             layers.Dense(units, activation="relu", name=f"{name_prefix}_hidden"),
                             layers.Dense(10, activation="softmax")], name=f"{name_prefix}_model")


def functional(units):
    inputs = keras.Input((28, 28))
    hidden = layers.Dense(units, activation="relu")(layers.Flatten()(inputs))
    return keras.Model(inputs, layers.Dense(10)(hidden))


def test_architecture_ignores_names_but_not_structure():
    same = [duplicates.architecture_hash(sequential(64, prefix).to_json()) for prefix in ("alice", "bob")]
    assert same[0] == same[1]
    assert duplicates.architecture_hash(sequential(32, "alice").to_json()) != same[0]
    # Functional models reference layers by name in their wiring: normalised consistently.
    assert duplicates.architecture_hash(functional(64).to_json()) == duplicates.architecture_hash(functional(64).to_json())
    assert duplicates.architecture_hash(functional(64).to_json()) != duplicates.architecture_hash(functional(32).to_json())


def test_architecture_of_garbage_is_none():
    assert duplicates.architecture_hash(None) is None
    assert duplicates.architecture_hash("not json") is None
    assert duplicates.architecture_hash("[1, 2]") is None


def test_groups_and_description():
    groups = duplicates.duplicate_groups({"a": "x", "b": "x", "c": "y", "d": None, "e": None})
    assert groups == {"a": ["b"], "b": ["a"], "c": [], "d": [], "e": []}
    assert duplicates.describe(["b", "c"], ["b"]) == "source: b; architecture: b, c"
    assert duplicates.describe([], []) == ""
