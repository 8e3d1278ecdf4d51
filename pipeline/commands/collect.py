"""`collect {git,moodle,canvas}`: bring roster students' hand-ins into submissions/<student_id>/.

Students that could not be collected are listed, not errors. A user mistake (no course: section,
a bad roster, an unknown track, a zip that is not one or is a partial download, an export over
course.max_export_mb or max_export_entries, an unreadable --times file, an unreachable
course.template) is raised as a ValueError: one line and exit status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pipeline.commands import EXIT_OK
from pipeline.config import Settings
from pipeline.course import collect, collect_git, collect_lms, roster


class UsageError(ValueError):
    """A mistake the user can fix: printed as one line, exit status 2."""


def main(*, settings: Settings, source: str, export: Optional[Path] = None, times: tuple[Path, ...] = (),
         track: Optional[str] = None) -> int:
    """Collect from `source` with params.yaml's course: section; print the summary."""
    params, paths = settings.params, settings.paths
    course = getattr(params, "course", None)
    if course is None:
        raise UsageError("params.yaml has no course: section; add one (see the commented example in "
                         "params.yaml) naming the roster and the deadlines")
    if source == "git" and export is not None:
        raise UsageError("collect git takes no file: it reads every repo in the roster")
    if source == "git" and times:
        raise UsageError("--times is for Canvas and Moodle exports; git's times are its commit times")
    if source != "git" and export is None:
        raise UsageError(f"collect {source} needs the export zip, e.g. "
                         f"python -m pipeline collect {source} export.zip --track mnist")
    track = choose_track(course, list(params.tracks), track)
    students = roster.load_roster(course.roster)
    unknown = sorted(set(course.extensions) - {student.student_id for student in students})
    if source == "git":
        report = collect_git.collect_git(students, course, track, paths.submissions, paths.repo_cache)
    else:
        report = collect_lms.collect_lms(source, export, students, course, track, paths.submissions, list(times))
    if unknown:
        report.notes.append(f"course.extensions names student(s) not on the roster: {unknown}")
    if track:
        report.notes.insert(0, f"deadline: {collect.iso(course.deadlines[track])} (track {track}); "
                               f"late policy: {course.late_policy.kind}")
    print_report(report)
    return EXIT_OK


def choose_track(course, tracks: list[str], track: str | None) -> str | None:
    unknown = sorted(set(course.deadlines) - set(tracks))
    if unknown:
        raise UsageError(f"params.yaml course.deadlines names unknown track(s) {unknown}; tracks has {sorted(tracks)}")
    if track is not None:
        if track not in tracks:
            raise UsageError(f"--track {track}: no such track; params.yaml has {sorted(tracks)}")
        if track not in course.deadlines:
            raise UsageError(f"--track {track}: course.deadlines has no deadline for it "
                             f"(it has {sorted(course.deadlines)}); add `{track}: 2025-03-01T17:00:00+00:00`")
        return track
    if len(course.deadlines) > 1:
        raise UsageError(f"several deadlines in course.deadlines {sorted(course.deadlines)}: "
                         f"say whose applies with --track")
    return next(iter(course.deadlines), None)


def print_report(report: collect.CollectReport) -> None:
    for note in report.notes:
        print(note)
    width = max((len(result.student_id) for result in report.results), default=0)
    for result in report.results:
        label = result.outcome.value
        if result.lateness.late and result.outcome in (collect.Outcome.COLLECTED, collect.Outcome.UPDATED,
                                                       collect.Outcome.UNCHANGED):
            label += ", late"
        print(f"  {result.student_id:<{width}}  {label:<17} {result.detail}")
        for warning in result.warnings:
            print(f"  {'':<{width}}  {'':<17} warning: {warning}")
        for check in result.checks:
            print(f"  {'':<{width}}  {'':<17} {check}")
    for entry in report.unmatched:
        print(f"unmatched: {entry}")
    for entry in report.refused:
        print(f"refused: {entry}")
    Outcome = collect.Outcome
    print(f"collect {report.source}: {report.count(Outcome.COLLECTED, Outcome.UPDATED)} collected "
          f"({report.count(Outcome.UPDATED)} of them updated), {report.count(Outcome.UNCHANGED)} unchanged, "
          f"{report.late} late, {report.count(Outcome.REJECTED)} rejected, {report.count(Outcome.SKIPPED)} skipped, "
          f"{report.count(Outcome.MISSING)} with no hand-in, {len(report.unmatched)} unmatched, "
          f"{len(report.refused)} refused entr{'y' if len(report.refused) == 1 else 'ies'}, "
          f"{report.to_check} to check")
