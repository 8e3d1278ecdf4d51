"""`collect git`: each roster repository's hand-in, chosen from the student's own commits.

The hand-in is the newest of the student's commits (in history order) dated at or before the late
policy's last day. GitHub Classroom's starter code is never a hand-in: commits by its bot, and
commits whose tree is exactly the template's (course.template). git_checks' findings go into the
record and the summary.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Optional

import yaml

from pipeline import atomic
from pipeline.course import deadlines, git_checks, git_intake
from pipeline.course.collect import (CollectReport, Outcome, StudentResult, earlier_handin_warning,
                                     finish, iso, lateness_record, previous_record)
from pipeline.course.roster import Student
from pipeline.course_settings import CourseSettings

# Beside each mirrored repository: what the last collect saw (its time and the branch's tip), for
# the "pushed after the date they claim" check. Outside submissions/, so records stay deterministic.
LAST_COLLECT_FILE = "gradebench-last-collect.yaml"


class TemplateError(ValueError):
    """course.template cannot be read: a usage error (exit 2), since every starter would count."""


def _described_lateness(record: dict) -> str:
    """How a previous submission.yaml's lateness reads ("on time", "2 day(s) late, penalty 20%")."""
    if not record.get("late"):
        return "on time"
    penalty = float(record.get("penalty") or 0)
    return deadlines.describe(deadlines.Lateness(True, record.get("late_days"), penalty, True))


def _read_last_collect(cache: Path) -> dict:
    try:
        raw = yaml.safe_load((cache / LAST_COLLECT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _previous_collect(submissions_dir: Path, student_id: str, cache: Path) -> git_checks.PreviousCollect:
    record = previous_record(submissions_dir, student_id)
    seen = _read_last_collect(cache)
    try:
        collected_at = datetime.datetime.fromisoformat(str(seen.get("collected_at")))
    except ValueError:
        collected_at = None  # no earlier collect (or a damaged note): the check waits for the next one
    commit = record.get("commit") if record.get("source") == "git" else None
    return git_checks.PreviousCollect(commit, _described_lateness(record), collected_at, seen.get("tip"))


def is_starter(commit: git_intake.Commit, template_trees: set[str]) -> bool:
    """GitHub Classroom's starter code: its bot's commits, or a tree identical to the template's."""
    return commit.author == git_intake.CLASSROOM_BOT or commit.tree in template_trees


def _starter_detail(starters: list[git_intake.Commit]) -> str:
    named = ", ".join(f"{commit.short} by {commit.author}" if commit.author == git_intake.CLASSROOM_BOT
                      else f"{commit.short} (the template's files exactly)" for commit in starters[:3])
    return f"only GitHub Classroom's starter code: {named}; nothing of the student's own"


def template_tree(course: CourseSettings, cache_root: Path) -> Optional[str]:
    """The tree of course.template's commit when it names a repository (mirrored like the students'),
    else None. An unreachable template is a usage error: every student's starter would count."""
    if course.template is None or course.template.repo is None:
        return None
    cache = cache_root / "_template"  # never a student's: student ids start with a letter or digit
    try:
        git_intake.sync(course.template.repo, cache)
    except git_intake.IntakeError as error:
        raise TemplateError(f"course.template.repo: {error}") from None
    tree = git_intake.tree_of(cache, course.template.commit)
    if tree is None:
        raise TemplateError(f"course.template.commit: {course.template.commit!r} is not in "
                            f"{git_intake.redact_url(course.template.repo)}")
    return tree


def collect_git_student(student: Student, course: CourseSettings, track: Optional[str], submissions_dir: Path,
                        cache_root: Path, template_trees: frozenset[str] = frozenset(),
                        now: Optional[datetime.datetime] = None) -> StudentResult:
    """One student's repository: sync, choose the commit, read, check, write. Never raises for bad
    repositories."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not student.repo:
        return StudentResult(student.student_id, Outcome.SKIPPED, "no repo in the roster")
    cache = cache_root / git_intake.cache_name(student.student_id)
    checks: list[str] = []
    try:
        git_intake.sync(student.repo, cache)
        history = git_intake.commits(cache)
        previous = _previous_collect(submissions_dir, student.student_id, cache)
        _write_last_collect(cache, now, history[0].sha)
        trees = set(template_trees)
        if course.template is not None and course.template.repo is None:
            tree = git_intake.tree_of(cache, course.template.commit)
            trees |= {tree} if tree else set()
        own = [commit for commit in history if not is_starter(commit, trees)]
        own_shas = {commit.sha for commit in own}
        checks += git_checks.dated_before_parent(history, own_shas)
        checks += git_checks.in_the_future(own, now)
        deadline = course.deadline(track, student.student_id)
        checks += git_checks.pushed_after_their_date(
            own, previous, deadline, lambda sha: git_intake.is_ancestor(cache, sha, previous.tip))
        if not own:
            return StudentResult(student.student_id, Outcome.MISSING, _starter_detail(history), checks=checks)
        last = deadlines.cutoff(deadline, course.late_policy)
        newest = own[0]
        chosen = git_intake.newest_at_or_before(own, last)
        warnings = []
        if chosen is None:
            lateness = deadlines.assess(newest.time, deadline, course.late_policy)
            return StudentResult(student.student_id, Outcome.REJECTED,
                                 f"every commit of the student's is past the late policy's last day {iso(last)} "
                                 f"(newest {newest.short} at {iso(newest.time)}, {lateness.late_days} day(s) late)",
                                 lateness, earlier_handin_warning(submissions_dir, student.student_id), checks)
        if chosen != newest:
            warnings.append(f"newer commit {newest.short} at {iso(newest.time)} is past the late policy's "
                            f"last day {iso(last)}: ignored, {chosen.short} collected instead")
        files, read_warnings = git_intake.read_files(cache, chosen.sha, course.max_file_bytes)
    except git_intake.IntakeError as error:
        return StudentResult(student.student_id, Outcome.SKIPPED, str(error), checks=checks)
    warnings.extend(read_warnings)
    lateness = deadlines.assess(chosen.time, deadline, course.late_policy)
    checks += git_checks.rewritten(previous, chosen, deadlines.describe(lateness),
                                   lambda sha: git_intake.is_ancestor(cache, sha))
    if previous.commit == chosen.sha:
        # What an earlier collect found (a rewrite, a late push) stays on the record while the commit
        # it concerns is the one collected: the next run must not quietly wipe it.
        earlier = previous_record(submissions_dir, student.student_id).get("checks") or []
        checks = [check for check in earlier if isinstance(check, str) and check not in checks] + checks
    record = {"student_id": student.student_id, "source": "git", "repo": git_intake.redact_url(student.repo),
              "commit": chosen.sha, "lms_file": None,
              **lateness_record(chosen.time, deadline, lateness, track)}
    detail = f"commit {chosen.short} at {iso(chosen.time)}, {deadlines.describe(lateness)}"
    return finish(submissions_dir, student, files, record, lateness, detail, warnings, checks)


def _write_last_collect(cache: Path, now: datetime.datetime, tip: str) -> None:
    text = yaml.safe_dump({"collected_at": iso(now), "tip": tip}, sort_keys=False)
    try:
        atomic.write_text(cache / LAST_COLLECT_FILE, text)
    except OSError:
        pass  # only the "pushed after their date" check needs it, on the next collect


def collect_git(students: list[Student], course: CourseSettings, track: Optional[str], submissions_dir: Path,
                cache_root: Path) -> CollectReport:
    """Every roster student with a repo; one failure never stops the others."""
    report = CollectReport("git")
    template = template_tree(course, cache_root)
    trees = frozenset({template} if template else set())
    now = datetime.datetime.now(datetime.timezone.utc)
    for student in students:
        report.results.append(collect_git_student(student, course, track, submissions_dir, cache_root, trees, now))
    return report
