"""`collect moodle|canvas`: each roster student's hand-in in an LMS export, and its lateness.

Entries are matched to roster lines by lms_name (case, spacing, punctuation, word order and, by
default, accents ignored), else by student_id. Times: Moodle's come from the export's entries or its
grading worksheet; Canvas's LATE marks say late or on time, and its own submission times (if
given) say how many days.
"""

from __future__ import annotations

import datetime
import difflib
from pathlib import Path
from typing import Optional

from pipeline.course import deadlines, lms_intake, lms_times
from pipeline.course.archive import ArchiveLimits
from pipeline.course.collect import (CollectReport, Outcome, StudentResult, earlier_handin_warning, finish, iso,
                                     lateness_record)
from pipeline.course.handin_names import explain_missing
from pipeline.course.roster import Student, name_key, name_keys
from pipeline.course_settings import CourseSettings


def _suggestion(name: str, students: list[Student]) -> str:
    """"; did you mean s505 Zoe Lopez?" for the roster line whose name is closest, or ""."""
    keys: dict[str, Student] = {}
    for student in students:
        for known in (student.lms_name, student.display_name):
            for key in name_keys(known, ignore_accents=True) if known else ():
                keys.setdefault(key, student)  # every word order: Canvas writes "smithalice"
    close = difflib.get_close_matches(name_key(name, ignore_accents=True), list(keys), n=1, cutoff=0.8)
    if not close:
        return ""
    student = keys[close[0]]
    return f"; did you mean {student.student_id} {student.lms_name or student.display_name}?"


def match_handins(export: lms_intake.Export, students: list[Student], ignore_accents: bool = True
                  ) -> tuple[dict[str, lms_intake.LmsHandin], list[str]]:
    """Roster student id -> hand-in, and the hand-ins that match nobody (with the closest roster
    line, if one is close).

    A hand-in matches a student whose lms_name is the same name (ignoring case, spaces, punctuation
    and, with ignore_accents, accents), then the same words in another order, else whose
    student_id equals the LMS name or the LMS number. A name two students share matches neither.
    """
    exact: dict[str, Student] = {}
    reordered: dict[str, Student] = {}
    ambiguous: set[str] = set()
    for student in students:
        if not student.lms_name:
            continue
        key = name_key(student.lms_name, ignore_accents)
        if key in exact and exact[key] != student:
            ambiguous.add(key)
        exact[key] = student
        # The same words in another order ("smithalice" for Alice Smith), unless two students share them.
        for key in name_keys(student.lms_name, ignore_accents):
            if key in reordered and reordered[key] != student:
                ambiguous.add(key)
            reordered[key] = student
    for key in ambiguous:
        exact.pop(key, None)
        reordered.pop(key, None)
    by_id = {student.student_id: student for student in students}
    matched: dict[str, lms_intake.LmsHandin] = {}
    unmatched: list[str] = []
    strangers: list[lms_intake.LmsHandin] = []
    for handin in export.handins:
        key = name_key(handin.name, ignore_accents)
        student = (exact.get(key) or reordered.get(key) or by_id.get(handin.name) or by_id.get(handin.number))
        if student is None and key in ambiguous:
            unmatched.append(f"{handin.label}: several roster lines have this lms_name; make them differ")
        elif student is None:
            strangers.append(handin)
        elif student.student_id in matched:
            unmatched.append(f"{handin.label}: {student.student_id} already matched "
                             f"{matched[student.student_id].label}; fix lms_name in the roster")
        else:
            matched[student.student_id] = handin
    # Suggest only roster lines that nothing matched: those are the ones a near miss is meant for.
    free = [student for student in students if student.student_id not in matched]
    for handin in strangers:
        unmatched.append(f"{handin.label}: not on the roster{_suggestion(handin.name, free)}")
    return matched, unmatched


def _recorded_times(kind: str, times_files: list[Path], zone: datetime.tzinfo) -> dict[str, lms_times.RecordedTime]:
    if not times_files:
        return {}
    if kind == "canvas":
        return lms_times.read_canvas_times(times_files)
    return lms_times.read_moodle_worksheet(times_files, zone)


def collect_lms(kind: str, zip_path: Path, students: list[Student], course: CourseSettings,
                track: Optional[str], submissions_dir: Path, times_files: list[Path] = ()) -> CollectReport:
    """Every roster student's hand-in in a Moodle or Canvas export (times_files: lms_times)."""
    track_deadline = course.deadlines.get(track) if track else None
    zone = track_deadline.tzinfo if track_deadline else datetime.timezone.utc
    recorded = _recorded_times(kind, list(times_files), zone)
    limits = ArchiveLimits(course.max_file_mb, course.max_export_mb, course.max_export_entries)
    export = lms_intake.read_export(kind, zip_path, limits, zone)
    matched, unmatched = match_handins(export, students, course.ignore_accents)
    report = CollectReport(kind, unmatched=unmatched, refused=export.refused)
    sources = ", ".join(path.name for path in times_files)
    if kind == "canvas":
        report.notes.append(
            f"times: Canvas's LATE marks decide late or on time; days late from {sources}" if times_files else
            "times: Canvas's LATE marks decide late or on time; days late unknown (give --times with Canvas's "
            "submission times to count them)")
    elif times_files:
        report.notes.append(f"times: Moodle's \"Last modified (submission)\" from {sources}")
    else:
        report.notes.append("times: the times Moodle stored in the export's entries")
    if export.ignored:
        report.notes.append(f"{len(export.ignored)} other file(s) in the export ignored (only model.py, "
                            f"model.ipynb and meta.yaml are collected)")
    for student in students:
        handin = matched.get(student.student_id)
        if handin is None:
            report.results.append(StudentResult(student.student_id, Outcome.MISSING, f"nothing in {zip_path.name}"))
            continue
        report.results.append(_collect_lms_student(kind, handin, recorded.get(handin.number), student, course,
                                                   track, submissions_dir, bool(times_files)))
    return report


def canvas_lateness(marked_late: bool, recorded: Optional[lms_times.RecordedTime],
                    deadline: Optional[datetime.datetime], policy) -> tuple[deadlines.Lateness, list[str]]:
    """Canvas: its LATE mark says late or on time; its recorded time (if given) how many days.
    Returns the lateness and the checks where Canvas and course.deadlines disagree."""
    if deadline is None:
        return deadlines.ON_TIME, []
    submitted_at = recorded.submitted_at if recorded else None
    if not marked_late:
        if submitted_at is not None and submitted_at > deadline:
            return deadlines.ON_TIME, [
                f"check: Canvas did not mark it LATE, but {recorded.source} says submitted_at {iso(submitted_at)}, "
                f"after the deadline {iso(deadline)}: Canvas's due date or an extension there differs; on time as "
                f"Canvas says"]
        return deadlines.ON_TIME, []
    if submitted_at is None:
        return deadlines.assess_unknown_days(policy), []
    days = deadlines.late_days(submitted_at, deadline)
    if days == 0:
        seconds = recorded.seconds_late or 0
        days = max(1, -(-seconds // 86400))
        return deadlines.assess_days(days, policy), [
            f"check: Canvas marked it LATE, but {recorded.source} says submitted_at {iso(submitted_at)}, not after "
            f"the deadline {iso(deadline)}: Canvas's due date differs; counted {days} day(s) from Canvas's "
            f"seconds_late"]
    return deadlines.assess_days(days, policy), []


def _collect_lms_student(kind: str, handin: lms_intake.LmsHandin, recorded: Optional[lms_times.RecordedTime],
                         student: Student, course: CourseSettings, track: Optional[str],
                         submissions_dir: Path, have_times: bool) -> StudentResult:
    warnings = list(handin.problems) + list(handin.warnings)
    model_name = handin.model_name
    if model_name is None:
        reason = "; ".join(handin.problems) if handin.problems else explain_missing(handin.found)
        return StudentResult(student.student_id, Outcome.SKIPPED, f"{handin.label}: {reason}", warnings=handin.warnings)
    deadline = course.deadline(track, student.student_id)
    checks: list[str] = []
    if kind == "canvas":
        lateness, checks = canvas_lateness(handin.lms_late, recorded, deadline, course.late_policy)
        submitted_at = recorded.submitted_at if recorded else None
        if handin.lms_late and submitted_at is None and deadline is not None:
            why = ("without --times" if not have_times else f"(user {handin.number} is not in --times)"
                   if recorded is None else f"({recorded.source} has no submitted_at for it)")
            warnings.append(f"Canvas marked it LATE; days late unknown {why}: the policy counts 1 day")
    else:
        submitted_at = recorded.submitted_at if recorded else handin.submitted_at()
        lateness = deadlines.assess(submitted_at, deadline, course.late_policy)
        if submitted_at is None and deadline is not None:
            warnings.append("no submission time in the export" + (" or the worksheet" if recorded else "")
                            + ": lateness not computed")
    if not lateness.accepted:
        when = f" at {iso(submitted_at)}" if submitted_at else ""
        return StudentResult(student.student_id, Outcome.REJECTED,
                             f"{handin.entries[model_name]}{when}: {deadlines.describe(lateness)}, "
                             f"past the late policy's last day", lateness,
                             warnings + earlier_handin_warning(submissions_dir, student.student_id), checks)
    record = {"student_id": student.student_id, "source": kind, "repo": None, "commit": None,
              "lms_file": handin.entries[model_name], "lms_name": handin.name, "lms_late": handin.lms_late,
              **lateness_record(submitted_at, deadline, lateness, track)}
    detail = f"{handin.entries[model_name]}, {deadlines.describe(lateness)}"
    return finish(submissions_dir, student, handin.files, record, lateness, detail, warnings, checks)
