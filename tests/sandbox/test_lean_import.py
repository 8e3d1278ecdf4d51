"""The trainer imports TensorFlow and Keras without the optional packages Keras pulls in (they cost
about 1.2 s of every sandboxed step's start), and model.py can still import them afterwards."""

from __future__ import annotations

import json
import subprocess
import sys

from pipeline.sandbox.trainer.lean_import import NOT_NEEDED

PROBE = """
import json, sys
from pipeline.sandbox.trainer import runtime  # what both sandboxed steps import first
loaded_by_framework = sorted({name.partition('.')[0] for name in sys.modules} & NOT_NEEDED)
import matplotlib.pyplot, pandas, scipy.stats, sklearn  # a pasted notebook's imports, in model.py
import keras
print(json.dumps({"loaded_by_framework": loaded_by_framework, "keras_layers": hasattr(keras.layers, "Dense")}))
"""


def test_the_framework_loads_without_the_unneeded_packages_and_model_py_can_still_import_them():
    completed = subprocess.run([sys.executable, "-c", f"NOT_NEEDED = {sorted(NOT_NEEDED)!r}\n" + PROBE.replace(
        "& NOT_NEEDED", "& set(NOT_NEEDED)")], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe == {"loaded_by_framework": [], "keras_layers": True}
