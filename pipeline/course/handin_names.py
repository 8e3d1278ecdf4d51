"""What the file names in a hand-in say: the names collect takes, and what a near miss means.

A student who hands in `Model.py`, `hw1/model.py` or `hw1_submission.zip` meant to hand in a model;
the message says what was found and what to do, so nobody has to open the export by hand.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Iterable, Optional

MODEL_FILES = ("model.py", "model.ipynb")  # the first one present at the top is taken
META_FILE = "meta.yaml"
COLLECTED_NAMES = (*MODEL_FILES, META_FILE)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".rar", ".7z")
MAX_LISTED = 3  # files named in a "nothing found" message


def _intended(name: str) -> Optional[str]:
    """The collected name a file name was probably meant as ("Model.py" -> "model.py"), or None."""
    lower = name.lower()
    for model in MODEL_FILES:
        if lower == model or lower.startswith(model + "."):  # Model.py, model.py.txt
            return model
    suffix = PurePosixPath(lower).suffix
    if "model" in lower and suffix in (".py", ".ipynb"):  # model (1).py, my_model.py, Model-final.ipynb
        return "model" + suffix
    return None


def explain_missing(found: Iterable[str]) -> str:
    """Why there is no model file, from the paths found in the hand-in (relative, '/'-separated)."""
    paths = sorted(set(found))
    nested = [path for path in paths if "/" in path and PurePosixPath(path).name in MODEL_FILES]
    if nested:
        name = PurePosixPath(nested[0]).name
        return f"found {nested[0]} in a folder: hand in {name} at the top"
    for path in paths:
        intended = _intended(PurePosixPath(path).name)
        if intended and "/" not in path:
            return f"found {path}: the file must be named {intended}"
    for path in paths:
        intended = _intended(PurePosixPath(path).name)
        if intended:
            return f"found {path} in a folder: hand in {intended} at the top, named {intended}"
    archives = [path for path in paths if path.lower().endswith(ARCHIVE_SUFFIXES)]
    if archives:
        kind = "a zip" if archives[0].lower().endswith(".zip") else "an archive"
        return f"found {archives[0]}: upload model.py itself, not {kind}"
    if not paths:
        return "no model.py or model.ipynb: nothing handed in"
    listed = ", ".join(paths[:MAX_LISTED]) + (f" and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else "")
    return f"no model.py or model.ipynb (found {listed})"
