"""A digest of each current result, written by the grade stage: results/index/<track>.json.

The report stage depends on this file instead of on results/<track>/, so that DVC hashes one small
file per track rather than two files per student (a result and its log), which it did four times
per `dvc repro` (the status check, the run cache's check, and a save before and after the
command): at 1,000 students, 8,000 look-ups in DVC's hash cache for every change. A result is
only ever written by a grade run, which writes this file at its end, so the report is stale
exactly when this file changed. (A result edited by hand reaches the site after the next grade
run, or `dvc repro -f report`.)

    {"<submission>": "<sha256 of the result as recorded>", ...}

A result's log (results/<track>/<id>.log) is written with it, and the result records when it was
graded, so its digest changes with the log too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from pipeline import atomic
from pipeline.grading.record import Result

INDEX_DIR = "index"


def index_path(results_root: Path, track_name: str) -> Path:
    return results_root / INDEX_DIR / f"{track_name}.json"


def write_index(results_root: Path, track_name: str, results: list[Optional[Result]]) -> None:
    """`results`: every current result of the track (None entries are skipped)."""
    digests = {result.submission: hashlib.sha256(result.model_dump_json().encode()).hexdigest()
               for result in results if result is not None}
    path = index_path(results_root, track_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(digests, indent=0, sort_keys=True) + "\n")
