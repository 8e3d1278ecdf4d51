"""Each submission's display name (meta.yaml's `display_name`), written by the grade stage for the
report: results/names/<track>.json.

The display names are all the report reads of submissions/. Reading them here lets the report
stage depend on one small file per track instead of on submissions/, which DVC would otherwise
hash (a folder per student) four times on every `dvc repro`. A name is read again only from a
submission whose content changed: meta.yaml is part of the content hash (fingerprints.py).

    {"<submission>": {"content_hash": "...", "display_name": "Night Owl" or null}, ...}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from pipeline import atomic
from pipeline.grading.submission_facts import MetaError, load_meta

NAMES_DIR = "names"


def names_path(results_root: Path, track_name: str) -> Path:
    return results_root / NAMES_DIR / f"{track_name}.json"


def _load(path: Path) -> dict:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def write_names(results_root: Path, track_name: str, folders: list[Path], content_hashes: list[Optional[str]]) -> None:
    """The display name of every submission folder (None: none chosen, or meta.yaml is broken,
    which the grade stage reports as the submission's error), re-read where the content changed."""
    path = names_path(results_root, track_name)
    before = _load(path)
    names = {}
    for folder, content_hash in zip(folders, content_hashes):
        kept = before.get(folder.name)
        if content_hash is not None and isinstance(kept, dict) and kept.get("content_hash") == content_hash:
            names[folder.name] = kept
            continue
        try:
            display_name = load_meta(folder).display_name
        except MetaError:
            display_name = None
        names[folder.name] = {"content_hash": content_hash, "display_name": display_name}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(names, indent=0, sort_keys=True) + "\n")


def read_names(results_root: Path, track_names: list[str]) -> dict[str, Optional[str]]:
    """submission -> display name, from every track's file (the newest file wins where two differ:
    one track graded since the other). A submission in no file is missing from the result."""
    files = [names_path(results_root, name) for name in track_names]
    files = sorted((path for path in files if path.is_file()), key=lambda path: path.stat().st_mtime_ns)
    names: dict[str, Optional[str]] = {}
    for path in files:
        for submission, saved in _load(path).items():
            if isinstance(saved, dict):
                names[submission] = saved.get("display_name")
    return names
