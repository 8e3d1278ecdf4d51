"""An index of each track's current results, written by the grade stage: results/index/<track>.json.

The report stage depends on this file instead of on results/<track>/, so that DVC hashes one small
file per track rather than two files per student (a result and its log), which it did four times
per `dvc repro` (the status check, the run cache's check, and a save before and after the
command): at 1,000 students, 8,000 look-ups in DVC's hash cache for every change. A result is
only ever written by a grade run, which writes this file at its end, so the report is stale
exactly when this file changed. (A result edited by hand reaches the site after the next grade
run, or `dvc repro -f report`.)

The next grade run reads it too: a result file whose inode, modification time and size are as
indexed is the one indexed, so its cache key is taken from here instead of parsing the file
(`known_keys`; the stale check parsed a thousand results before the first sandbox could start).

    {"format": 2, "schema_version": <results'>, "results": {"<submission>":
        {"digest": "<sha256 of the result as recorded>", "cache_key": "...", "stamp": "<inode:mtime_ns:size>"}}}

A result's log (results/<track>/<id>.log) is written with it, and the result records when it was
graded, so its digest changes with the log too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from pipeline import atomic
from pipeline.grading.record import RESULT_SUFFIX, SCHEMA_VERSION, Result

INDEX_DIR = "index"
INDEX_FORMAT = 2


def index_path(results_root: Path, track_name: str) -> Path:
    return results_root / INDEX_DIR / f"{track_name}.json"


def file_stamp(path: Path) -> Optional[str]:
    """inode, modification time and size: a result is written to a new file, never into one."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


def write_index(results_root: Path, track_name: str, results: list[Optional[Result]]) -> None:
    """`results`: every current result of the track (None entries are skipped), as written in
    results_root/<track>/."""
    entries = {result.submission: {
        "digest": hashlib.sha256(result.model_dump_json().encode()).hexdigest(), "cache_key": result.cache_key,
        "stamp": file_stamp(results_root / track_name / f"{result.submission}{RESULT_SUFFIX}"),
    } for result in results if result is not None}
    path = index_path(results_root, track_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({"format": INDEX_FORMAT, "schema_version": SCHEMA_VERSION, "results": entries},
                                       indent=0, sort_keys=True) + "\n")


def known_keys(results_root: Path, track_name: str) -> dict[str, tuple[str, str]]:
    """Per submission, (cache key, stamp) of its result as last indexed; empty when there is no
    index, or one of another format or results' schema (then every result is parsed)."""
    try:
        saved = json.loads(index_path(results_root, track_name).read_text())
        if saved.get("format") != INDEX_FORMAT or saved.get("schema_version") != SCHEMA_VERSION:
            return {}
        return {submission: (entry["cache_key"], entry["stamp"]) for submission, entry in saved["results"].items()
                if entry.get("stamp")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
