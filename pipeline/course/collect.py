"""Collect: choose each student's hand-in, assess its lateness, and write submissions/<id>/ safely.

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
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from pipeline.course import deadlines, git_intake, lms_intake
from pipeline.course.lateness import RECORD_FILE
from pipeline.course.roster import SAFE_ID, Student, name_key, name_keys
from pipeline.course.settings import CourseSettings

MANAGED_FILES = (*git_intake.MODEL_FILES, git_intake.META_FILE, RECORD_FILE)
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
    return (RECORD_HEADER + yaml.safe_dump(full, sort_keys=False, allow_unicode=True)).encode("utf-8")


def _atomic_write(path: Path, data: bytes) -> None:
    # A temporary file in the same folder, then a rename: a reader (or a crash) never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
            _atomic_write(folder / name, files[name])
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


def _finish(submissions_dir: Path, student: Student, files: dict[str, bytes], record: dict,
            lateness: deadlines.Lateness, detail: str, warnings: list[str]) -> StudentResult:
    """Vet meta.yaml, write the folder and say what happened."""
    files = dict(files)
    if git_intake.META_FILE in files:
        problem = vet_meta(files[git_intake.META_FILE], student.student_id)
        if problem:
            warnings.append(problem)
            del files[git_intake.META_FILE]
    files[RECORD_FILE] = render_record(record, files)
    try:
        outcome = write_submission(submissions_dir, student.student_id, files)
    except (WriteRefused, OSError) as error:
        return StudentResult(student.student_id, Outcome.SKIPPED, str(error), lateness, warnings)
    return StudentResult(student.student_id, outcome, detail, lateness, warnings)


def _lateness_record(submitted_at, deadline, lateness: deadlines.Lateness, track: Optional[str]) -> dict:
    return {"submitted_at": iso(submitted_at), "track": track if deadline else None, "deadline": iso(deadline),
            "late": lateness.late, "late_days": lateness.late_days, "penalty": lateness.penalty}


def collect_git_student(student: Student, course: CourseSettings, track: Optional[str], submissions_dir: Path,
                        cache_root: Path) -> StudentResult:
    """One student's repository: sync, choose the commit, read, write. Never raises for bad repositories."""
    if not student.repo:
        return StudentResult(student.student_id, Outcome.SKIPPED, "no repo in the roster")
    cache = cache_root / git_intake.cache_name(student.student_id)
    try:
        git_intake.sync(student.repo, cache)
        history = git_intake.commits(cache)
        deadline = course.deadline(track, student.student_id)
        last = deadlines.cutoff(deadline, course.late_policy)
        newest = git_intake.latest_at_or_before(history, None)
        chosen = git_intake.latest_at_or_before(history, last)
        warnings = []
        if chosen is None:
            lateness = deadlines.assess(newest.time, deadline, course.late_policy)
            return StudentResult(student.student_id, Outcome.REJECTED,
                                 f"every commit is past the late policy's last day {iso(last)} (newest "
                                 f"{newest.sha[:10]} at {iso(newest.time)}, {lateness.late_days} day(s) late)", lateness)
        if chosen != newest:
            warnings.append(f"newer commit {newest.sha[:10]} at {iso(newest.time)} is past the late policy's "
                            f"last day {iso(last)}: ignored, {chosen.sha[:10]} collected instead")
        files, read_warnings = git_intake.read_files(cache, chosen.sha, course.max_file_bytes)
    except git_intake.IntakeError as error:
        return StudentResult(student.student_id, Outcome.SKIPPED, str(error))
    warnings.extend(read_warnings)
    lateness = deadlines.assess(chosen.time, deadline, course.late_policy)
    record = {"student_id": student.student_id, "source": "git", "repo": git_intake.redact_url(student.repo),
              "commit": chosen.sha, "lms_file": None,
              **_lateness_record(chosen.time, deadline, lateness, track)}
    detail = f"commit {chosen.sha[:10]} at {iso(chosen.time)}, {deadlines.describe(lateness)}"
    return _finish(submissions_dir, student, files, record, lateness, detail, warnings)


def collect_git(students: list[Student], course: CourseSettings, track: Optional[str], submissions_dir: Path,
                cache_root: Path) -> CollectReport:
    """Every roster student with a repo; one failure never stops the others."""
    report = CollectReport("git")
    for student in students:
        report.results.append(collect_git_student(student, course, track, submissions_dir, cache_root))
    return report


def match_handins(export: lms_intake.Export, students: list[Student]
                  ) -> tuple[dict[str, lms_intake.LmsHandin], list[str]]:
    """Roster student id -> hand-in, and the hand-ins that match nobody.

    A hand-in matches a student whose lms_name is the same name (ignoring case, spaces and
    punctuation), then the same words in another order, else whose student_id equals the LMS name
    or the LMS number.
    """
    by_name = {name_key(student.lms_name): student for student in students if student.lms_name}
    # The same words in another order ("smithalice" for Alice Smith), unless two students share them.
    reordered: dict[str, Student] = {}
    ambiguous: set[str] = set()
    for student in students:
        for key in name_keys(student.lms_name) if student.lms_name else ():
            if key in reordered and reordered[key] != student:
                ambiguous.add(key)
            reordered[key] = student
    for key in ambiguous:
        del reordered[key]
    by_id = {student.student_id: student for student in students}
    matched: dict[str, lms_intake.LmsHandin] = {}
    unmatched: list[str] = []
    for handin in export.handins:
        key = name_key(handin.name)
        student = (by_name.get(key) or reordered.get(key) or by_id.get(handin.name)
                   or by_id.get(handin.number))
        if student is None:
            unmatched.append(f"{handin.label}: no roster line has this lms_name or student_id")
        elif student.student_id in matched:
            unmatched.append(f"{handin.label}: {student.student_id} already matched "
                             f"{matched[student.student_id].label}; fix lms_name in the roster")
        else:
            matched[student.student_id] = handin
    return matched, unmatched


def collect_lms(kind: str, zip_path: Path, students: list[Student], course: CourseSettings,
                track: Optional[str], submissions_dir: Path) -> CollectReport:
    """Every roster student's hand-in in a Moodle or Canvas export."""
    track_deadline = course.deadlines.get(track) if track else None
    zone = track_deadline.tzinfo if track_deadline else datetime.timezone.utc
    export = lms_intake.read_export(kind, zip_path, course.max_file_bytes, zone)
    matched, unmatched = match_handins(export, students)
    report = CollectReport(kind, unmatched=unmatched, refused=export.refused)
    if export.ignored:
        report.notes.append(f"{len(export.ignored)} other file(s) in the export ignored (only model.py, "
                            f"model.ipynb and meta.yaml are collected)")
    for student in students:
        handin = matched.get(student.student_id)
        if handin is None:
            report.results.append(StudentResult(student.student_id, Outcome.MISSING, f"nothing in {zip_path.name}"))
            continue
        report.results.append(_collect_lms_student(kind, handin, student, course, track, submissions_dir))
    return report


def _collect_lms_student(kind: str, handin: lms_intake.LmsHandin, student: Student, course: CourseSettings,
                         track: Optional[str], submissions_dir: Path) -> StudentResult:
    warnings = list(handin.problems)
    model_name = handin.model_name
    if model_name is None:
        reason = "; ".join(handin.problems) if handin.problems else "no model.py or model.ipynb"
        return StudentResult(student.student_id, Outcome.SKIPPED, f"{handin.label}: {reason}")
    submitted_at = handin.submitted_at()
    deadline = course.deadline(track, student.student_id)
    lateness = deadlines.assess(submitted_at, deadline, course.late_policy)
    if submitted_at is None and deadline is not None:
        warnings.append("the export has no submission time: lateness not computed"
                        + (" (Canvas marked it LATE)" if handin.lms_late else ""))
    if not lateness.accepted:
        return StudentResult(student.student_id, Outcome.REJECTED,
                             f"{handin.entries[model_name]} at {iso(submitted_at)}: {lateness.late_days} day(s) late, "
                             f"past the late policy's last day", lateness)
    record = {"student_id": student.student_id, "source": kind, "repo": None, "commit": None,
              "lms_file": handin.entries[model_name], "lms_name": handin.name, "lms_late": handin.lms_late,
              **_lateness_record(submitted_at, deadline, lateness, track)}
    detail = f"{handin.entries[model_name]}, {deadlines.describe(lateness)}"
    return _finish(submissions_dir, student, handin.files, record, lateness, detail, warnings)
