"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every result, prepared array and trainer output goes through here, so an interrupted run never
leaves a truncated file under a final name (the next run would trust it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _partial(path: Path) -> Path:
    # Same folder (os.replace is atomic only within one file system); the suffix keeps the
    # extension, since np.save and np.savez append one to names that lack it.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _umask_mode() -> int:
    """0o666 less the process umask: the mode any new file gets (0644 under umask 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes(path: Path, content: bytes) -> None:
    # A unique temporary name, so two writers of one file never share a partial one.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(handle, _umask_mode())  # mkstemp makes it 0600; these are ordinary files
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
