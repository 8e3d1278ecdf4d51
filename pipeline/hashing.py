"""Content hashes: what decides whether a stored result is still valid."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

IGNORED_NAMES = {"__pycache__", ".DS_Store"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(folder: Path) -> str:
    """Hash of every file's relative path and bytes, in sorted order (independent of mtimes)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or IGNORED_NAMES.intersection(path.relative_to(folder).parts):
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def json_sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
