"""`python -m pipeline collect {git,moodle,canvas}`: the command, its summary and its exit codes.

Exit status: 0 the collect ran (students that could not be collected are listed, not errors);
2 a user mistake (no course: section, a bad roster, an unknown track, a zip that is not one or is
a partial download, an export over course.max_export_mb or max_export_entries, an unreadable
--times file, an unreachable course.template), printed as one line without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.course import collect, collect_git, collect_lms, roster
from pipeline.course.lms_intake import ExportError
from pipeline.course.lms_times import TimesError

SUBMISSIONS = Path("submissions")
# Mirrored repositories live here, outside submissions/ (git-ignored): cloned once, fetched after.
REPO_CACHE = Path(".gradebench/repos")
EXIT_OK, EXIT_USAGE = 0, 2

EXAMPLES = """examples:
  python -m pipeline collect git --track mnist                 # every roster repo, mnist's deadline
  python -m pipeline collect moodle export.zip --track mnist   # a Moodle "download all submissions"
  python -m pipeline collect canvas submissions.zip --track notmnist --times submissions.json
  python -m pipeline collect moodle export.zip --times grading-worksheet.csv
"""


class UsageError(ValueError):
    """A mistake the user can fix: printed as one line, exit status 2."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `collect` on the main parser's subparsers; its handler is `run(args, params)`."""
    parser = subparsers.add_parser(
        "collect", help="bring hand-ins from git repositories or a Moodle/Canvas export into submissions/",
        description="Collect each roster student's hand-in into submissions/<student_id>/, with a\n"
                    "submission.yaml recording the commit or LMS file, the time and the lateness.\n"
                    "Unchanged hand-ins are left untouched; run it before `dvc repro`.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", choices=["git", "moodle", "canvas"],
                        help="git: every roster repo; moodle/canvas: an assignment export zip")
    parser.add_argument("export", nargs="?", type=Path, help="the export zip (moodle and canvas only)")
    parser.add_argument("--times", type=Path, action="append", default=[], metavar="FILE",
                        help="the LMS's own submission times: Canvas's Submissions API JSON (or a CSV of it), "
                             "Moodle's grading worksheet CSV; repeat for several files")
    parser.add_argument("--track", default=None,
                        help="whose deadline applies (course.deadlines); default: the only one, if there is one")
    parser.set_defaults(handler=run)
    return parser


def run(args, params) -> int:
    """Collect from args.source with params.course; print the summary. See the module doc for exits."""
    try:
        report = _collect(args, params)
    except (UsageError, roster.RosterError, ExportError, TimesError, collect_git.TemplateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
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


def _collect(args, params) -> collect.CollectReport:
    course = getattr(params, "course", None)
    if course is None:
        raise UsageError("params.yaml has no course: section; add one (see the commented example in "
                         "params.yaml) naming the roster and the deadlines")
    if args.source == "git" and args.export is not None:
        raise UsageError("collect git takes no file: it reads every repo in the roster")
    if args.source == "git" and args.times:
        raise UsageError("--times is for Canvas and Moodle exports; git's times are its commit times")
    if args.source != "git" and args.export is None:
        raise UsageError(f"collect {args.source} needs the export zip, e.g. "
                         f"python -m pipeline collect {args.source} export.zip --track mnist")
    track = choose_track(course, list(params.tracks), args.track)
    students = roster.load_roster(course.roster)
    unknown = sorted(set(course.extensions) - {student.student_id for student in students})
    if args.source == "git":
        report = collect_git.collect_git(students, course, track, SUBMISSIONS, REPO_CACHE)
    else:
        report = collect_lms.collect_lms(args.source, args.export, students, course, track, SUBMISSIONS, args.times)
    if unknown:
        report.notes.append(f"course.extensions names student(s) not on the roster: {unknown}")
    if track:
        report.notes.insert(0, f"deadline: {collect.iso(course.deadlines[track])} (track {track}); "
                               f"late policy: {course.late_policy.kind}")
    return report


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
