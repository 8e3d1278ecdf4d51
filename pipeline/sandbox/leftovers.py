"""Scratch folders and cgroups of graders that did not get to clean up after themselves.

A scratch folder holds copies of the hidden *inputs* and whatever a submission wrote, so it must
not outlive its run. Each is named gradebench-<grader pid>-..., like the per-run cgroups, so a
later grader can tell a dead grader's leftovers (owner pid gone) from a running grader's.
`sweep()` runs when grading starts; `remove_own()` when this grader is interrupted (Ctrl-C or
SIGTERM), after its sandboxes are killed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

from pipeline.sandbox import cgroups

SCRATCH_PREFIX = "gradebench-"
_OWNED = re.compile(rf"^{SCRATCH_PREFIX}(\d+)-")


def scratch_prefix(label: str) -> str:
    """The tempfile prefix of a scratch folder owned by this process."""
    return f"{SCRATCH_PREFIX}{os.getpid()}-{label}-"


def _owner(path: Path):
    match = _OWNED.match(path.name)
    return int(match.group(1)) if match else None


def _scratch_folders(root: Path) -> list[Path]:
    return [path for path in root.glob(f"{SCRATCH_PREFIX}*") if path.is_dir() and _owner(path) is not None]


def sweep(root: Path | None = None) -> list[Path]:
    """Remove scratch folders and cgroups whose grader process is gone; return the folders removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in _scratch_folders(root):
        owner = _owner(folder)
        if owner != os.getpid() and not psutil.pid_exists(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    cgroups.remove_stale_groups()
    return removed


def remove_own(root: Path | None = None) -> None:
    """Remove this process's scratch folders (its sandboxes must be dead already)."""
    root = Path(root or tempfile.gettempdir())
    for folder in _scratch_folders(root):
        if _owner(folder) == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
