"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every result, prepared array and trainer output goes through here, so an interrupted run never
leaves a truncated file under a final name (the next run would trust it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _partial(path: Path) -> Path:
    # Same folder (os.replace is atomic only within one file system); the suffix keeps the
    # extension, since np.save and np.savez append one to names that lack it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_bytes(path: Path, content: bytes) -> None:
    partial = _partial(path)
    partial.write_bytes(content)
    os.replace(partial, path)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def save_npy(path: Path, array: np.ndarray) -> None:
    partial = _partial(path)
    np.save(partial, array)
    os.replace(partial, path)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    partial = _partial(path)
    np.savez(partial, **arrays)
    os.replace(partial, path)
