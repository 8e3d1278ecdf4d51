"""Rubric bands -> results/grades.csv: one row per student, in columns an LMS gradebook imports.

    student_id, <track>_marks (one per banded track), late_days, penalty, total, handin, status, review, comment

A track's marks are those of the highest band (grades.bands.<track> in params.yaml) whose
min_accuracy the submission's ranking accuracy reaches: the public part's while the private part
is hidden (the comment then says the marks are provisional), the private part's once revealed.
A failed submission is included with grades.failed_marks and its status; baselines (meta.yaml
`baseline: true`) are not students and are left out. Duplicate flags are mentioned in the
comment for the marker to review; they never change the marks. Nor does the integrity flag
(grading/integrity.py): `review` holds its message, per track, for a person to look into.

Late work (submission.yaml from `python -m pipeline collect`): `late_days` and `penalty` (the
fraction taken off under course.late_policy) stand beside the track marks, which are the bands'
own; `total` is their sum times (1 - penalty). `handin` is the commit SHA or LMS file graded, so
a grade can be traced to exactly what the student handed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import status
from pipeline.config import Band, GradeSettings
from pipeline.reporting.leaderboard import ranking_metric

GRADES_FILE = "grades.csv"
STUDENT_COLUMN = "student_id"
TOTAL_COLUMN = "total"
STATUS_COLUMN = "status"
COMMENT_COLUMN = "comment"
LATE_DAYS_COLUMN = "late_days"
PENALTY_COLUMN = "penalty"
HANDIN_COLUMN = "handin"
REVIEW_COLUMN = "review"


def marks_for(accuracy: Optional[float], bands: list[Band], failed_marks: float) -> tuple[float, Optional[Band]]:
    """(marks, the band reached or None) for one accuracy."""
    if accuracy is None or pd.isna(accuracy):
        return failed_marks, None
    for band in bands:  # validated: strictly decreasing thresholds
        if accuracy >= band.min_accuracy:
            return band.marks, band
    return failed_marks, None


def _number(value: float):
    return int(value) if float(value).is_integer() else value


def grade_table(ranked_tables: dict[str, pd.DataFrame], settings: GradeSettings, reveal_private: bool) -> pd.DataFrame:
    """One row per non-baseline submission over every track that has bands."""
    metric = ranking_metric(reveal_private)
    part = "private" if reveal_private else "public (provisional)"
    tracks = [name for name in settings.bands if name in ranked_tables]
    students: dict[str, dict] = {}
    for track_name in tracks:
        bands = settings.bands[track_name]
        for row in ranked_tables[track_name].itertuples(index=False):
            if row.baseline:
                continue
            entry = students.setdefault(row.student_id, {"marks": {}, "statuses": [], "comments": [],
                                                          "late_days": 0, "penalty": 0.0, "handin": set(),
                                                          "reviews": []})
            # One folder is graded on every track, so its hand-in (and lateness) is the same on each.
            entry["late_days"] = max(entry["late_days"], int(row.late_days or 0))
            entry["penalty"] = max(entry["penalty"], float(row.penalty or 0.0))
            # pandas holds a missing value as NaN (which is truthy): keep the one that is a string.
            entry["handin"].update(value for value in (row.handin_commit, row.handin_lms_file)
                                   if isinstance(value, str) and value)
            if row.status == status.OK:
                marks, band = marks_for(getattr(row, metric), bands, settings.failed_marks)
                reached = f"band >= {band.min_accuracy:g}" if band else "below every band"
                note = f"{track_name}: {part} accuracy {getattr(row, metric):.4f}, {reached}: {_number(marks)} marks"
            else:
                marks = settings.failed_marks
                note = f"{track_name}: {row.status}: {row.error or 'no result'}"
            if row.duplicate_of:
                note += f" (identical {row.duplicate_of}: for review)"
            if isinstance(row.review, str) and row.review:
                entry["reviews"].append(f"{track_name}: {row.review}")
            entry["marks"][track_name] = marks
            entry["statuses"].append(row.status)
            entry["comments"].append(note)
    rows = []
    for student_id in sorted(students):
        entry = students[student_id]
        failed = [code for code in entry["statuses"] if code != status.OK]
        row = {STUDENT_COLUMN: student_id}
        for track_name in tracks:
            # A student missing from a track (no result there) gets the failed marks for it.
            row[f"{track_name}_marks"] = _number(entry["marks"].get(track_name, settings.failed_marks))
        marks = sum(entry["marks"].get(name, settings.failed_marks) for name in tracks)
        row[LATE_DAYS_COLUMN] = entry["late_days"]
        row[PENALTY_COLUMN] = _number(entry["penalty"])
        row[TOTAL_COLUMN] = _number(round(marks * (1 - entry["penalty"]), 6))
        row[HANDIN_COLUMN] = " ".join(sorted(entry["handin"]))
        row[STATUS_COLUMN] = failed[0] if failed else status.OK
        row[REVIEW_COLUMN] = "; ".join(entry["reviews"])
        comments = entry["comments"]
        if entry["penalty"]:
            comments = comments + [f"{entry['late_days']} day(s) late: {entry['penalty'] * 100:g}% off, "
                                   f"{_number(marks)} -> {row[TOTAL_COLUMN]} marks"]
        elif entry["late_days"]:
            comments = comments + [f"{entry['late_days']} day(s) late (no penalty)"]
        row[COMMENT_COLUMN] = "; ".join(comments)
        rows.append(row)
    columns = [STUDENT_COLUMN, *(f"{name}_marks" for name in tracks), LATE_DAYS_COLUMN, PENALTY_COLUMN,
               TOTAL_COLUMN, HANDIN_COLUMN, STATUS_COLUMN, REVIEW_COLUMN, COMMENT_COLUMN]
    return pd.DataFrame(rows, columns=columns)


def write_grades(results_root: Path, ranked_tables: dict[str, pd.DataFrame], settings: GradeSettings,
                 reveal_private: bool) -> pd.DataFrame:
    table = grade_table(ranked_tables, settings, reveal_private)
    table.to_csv(results_root / GRADES_FILE, index=False)
    return table
