"""Collect's common ground: outcomes, the summary's report, and writing submissions/<id>/ safely.

collect_git and collect_lms choose each student's hand-in and assess its lateness; this module
writes what they chose.

Writing is idempotent: a folder whose files already hold exactly the bytes to write is not touched
at all (so its result cache stays valid and nothing re-grades); a changed one has its collected
files replaced (the old version stays in git history, not in the folder). Only the collected names
(model.py, model.ipynb, meta.yaml, submission.yaml) are ever written or removed, only inside
submissions/<student_id>/, and never through a symbolic link. A folder that collect did not create
(no submission.yaml, e.g. a reference baseline) is left alone.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from pipeline import atomic
from pipeline.config import SAFE_ID
from pipeline.course import deadlines
from pipeline.course.handin_names import META_FILE, MODEL_FILES
from pipeline.handin_record import RECORD_FILE
from pipeline.course.roster import Student

MANAGED_FILES = (*MODEL_FILES, META_FILE, RECORD_FILE)
RECORD_HEADER = ("# Written by `python -m pipeline collect`: what was handed in, when, and how late.\n"
                 "# Do not edit; change course: in params.yaml or the source and collect again.\n")


class Outcome(enum.Enum):
    """What collect did for one student (the summary's columns)."""

    COLLECTED = "collected"  # new folder
    UPDATED = "updated"  # the hand-in changed: its files were replaced
    UNCHANGED = "unchanged"  # identical bytes already there: nothing written
    REJECTED = "rejected"  # beyond the late policy's last day: not collected
    SKIPPED = "skipped"  # could not be collected (unreachable, no model file, refused files)
    MISSING = "no hand-in"  # on the roster, but nothing in this export


@dataclass
class StudentResult:
    student_id: str
    outcome: Outcome
    detail: str  # one line: commit/file and lateness, or why it was skipped
    lateness: deadlines.Lateness = deadlines.ON_TIME
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # "check: ..." lines: look at this history


@dataclass
class CollectReport:
    source: str
    results: list[StudentResult] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # export entries that match no roster line
    refused: list[str] = field(default_factory=list)  # export entries refused as unsafe
    notes: list[str] = field(default_factory=list)

    def count(self, *outcomes: Outcome) -> int:
        return sum(result.outcome in outcomes for result in self.results)

    @property
    def to_check(self) -> int:
        return sum(bool(result.checks) for result in self.results)

    @property
    def late(self) -> int:
        written = (Outcome.COLLECTED, Outcome.UPDATED, Outcome.UNCHANGED)
        return sum(result.lateness.late and result.outcome in written for result in self.results)


class WriteRefused(Exception):
    """submissions/<id>/ is not a place collect may write (symlink, or made by hand)."""


def iso(moment: Optional[datetime.datetime]) -> Optional[str]:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds") if moment else None


def render_record(record: dict, files: dict[str, bytes]) -> bytes:
    """submission.yaml's bytes: deterministic (no collection time), so an unchanged hand-in
    produces an identical record and nothing is rewritten."""
    full = {**record, "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    # width: one line per check, however long, so that a record reads (and diffs) line by line.
    return (RECORD_HEADER + yaml.safe_dump(full, sort_keys=False, allow_unicode=True, width=10_000)).encode("utf-8")


def write_submission(submissions_dir: Path, student_id: str, files: dict[str, bytes]) -> Outcome:
    """Make submissions/<student_id>/ hold exactly `files` among the managed names; see the module doc."""
    if not SAFE_ID.match(student_id):
        raise WriteRefused(f"{student_id!r} is not a safe folder name")
    unknown = set(files) - set(MANAGED_FILES)
    if unknown:
        raise WriteRefused(f"not a collected file name: {sorted(unknown)}")
    folder = submissions_dir / student_id
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise WriteRefused(f"{folder} is a symbolic link or a file, not a folder: left alone")
    existing: dict[str, bytes] = {}
    if folder.is_dir():
        for name in MANAGED_FILES:
            path = folder / name
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise WriteRefused(f"{path} is a symbolic link or a folder: left alone (remove it to collect)")
            if path.is_file():
                existing[name] = path.read_bytes()
        if RECORD_FILE not in existing and any(folder.iterdir()):
            raise WriteRefused(f"{folder}/ exists and was not made by collect (no {RECORD_FILE}): left alone; "
                               f"move it away to collect this student")
    if existing == files:
        return Outcome.UNCHANGED
    folder.mkdir(parents=True, exist_ok=True)
    # The record first: if the run stops half-way, the folder's files disagree with it, and the
    # next collect sees the difference and finishes the job.
    for name in sorted(files, key=lambda name: name != RECORD_FILE):
        if existing.get(name) != files[name]:
            atomic.write_bytes(folder / name, files[name])
    for name in set(existing) - set(files):
        (folder / name).unlink()
    return Outcome.UPDATED if existing else Outcome.COLLECTED


def vet_meta(data: bytes, student_id: str) -> Optional[str]:
    """Why a student's own meta.yaml may not be copied, or None.

    meta.yaml can mark a folder as a reference baseline (left out of grades) or name a student id;
    a student may not claim either for themselves.
    """
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return "meta.yaml is not valid UTF-8 YAML: not copied"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return "meta.yaml is not a mapping: not copied"
    if raw.get("baseline"):
        return "meta.yaml claims `baseline: true`, which only instructors set: not copied"
    if raw.get("student_id") is not None and str(raw["student_id"]) != student_id:
        return f"meta.yaml names student_id {raw['student_id']!r}, but the roster says {student_id!r}: not copied"
    return None


def finish(submissions_dir: Path, student: Student, files: dict[str, bytes], record: dict,
            lateness: deadlines.Lateness, detail: str, warnings: list[str],
            checks: Optional[list[str]] = None) -> StudentResult:
    """Vet meta.yaml, write the folder and say what happened."""
    files = dict(files)
    checks = list(checks or [])
    if META_FILE in files:
        problem = vet_meta(files[META_FILE], student.student_id)
        if problem:
            warnings.append(problem)
            del files[META_FILE]
    files[RECORD_FILE] = render_record({**record, "checks": checks}, files)
    try:
        outcome = write_submission(submissions_dir, student.student_id, files)
    except (WriteRefused, OSError) as error:
        return StudentResult(student.student_id, Outcome.SKIPPED, str(error), lateness, warnings, checks)
    return StudentResult(student.student_id, outcome, detail, lateness, warnings, checks)


def previous_record(submissions_dir: Path, student_id: str) -> dict:
    """The student's submission.yaml as the last collect wrote it ({} if none or unreadable)."""
    path = submissions_dir / student_id / RECORD_FILE
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def lateness_record(submitted_at, deadline, lateness: deadlines.Lateness, track: Optional[str]) -> dict:
    return {"submitted_at": iso(submitted_at), "track": track if deadline else None, "deadline": iso(deadline),
            "late": lateness.late, "late_days": lateness.late_days, "penalty": lateness.penalty}


def earlier_handin_warning(submissions_dir: Path, student_id: str) -> list[str]:
    """For a student rejected now: say so if an earlier collect's hand-in is still in their folder
    (rejected means nothing is written, so it stays, and would be graded)."""
    record = previous_record(submissions_dir, student_id)
    if not record:
        return []
    what = record.get("lms_file") or (record.get("commit") or "")[:10]
    return [f"submissions/{student_id}/ still holds an earlier collect's hand-in ({what}): "
            f"remove the folder if it must not be graded"]
