"""The collect record, submissions/<id>/submission.yaml: what was handed in, when, and how late.

`collect` (pipeline/course/) writes it; the grader reads it back with `read_submission_record` to put lateness and
provenance into results, MLflow tags, the leaderboard and grades.csv. A folder without the record
(a reference baseline, or a submission placed by hand) simply has no lateness: None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

RECORD_FILE = "submission.yaml"
# What the grader needs from the record, in this order; all keys are always present.
RECORD_FIELDS = ("source", "commit", "lms_file", "submitted_at", "late", "late_days", "penalty")


def read_submission_record(submission_dir: Path) -> Optional[dict]:
    """{source, commit, lms_file, submitted_at, late, late_days, penalty} from submission.yaml, or None.

    `commit` is set for git hand-ins and `lms_file` for Moodle/Canvas ones (the other is None).
    A missing record is None; an unreadable one is None too, since it only ever adds information
    (collect rewrites it on its next run).
    """
    path = Path(submission_dir) / RECORD_FILE
    if not path.is_file() or path.is_symlink():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(raw, dict):
        return None
    record = {name: raw.get(name) for name in RECORD_FIELDS}
    try:
        record["late"] = bool(record["late"])
        record["late_days"] = int(record["late_days"] or 0)
        record["penalty"] = min(1.0, max(0.0, float(record["penalty"] or 0.0)))
    except (TypeError, ValueError):
        return None
    return record
