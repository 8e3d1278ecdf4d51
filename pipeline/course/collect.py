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
import difflib
import enum
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from pipeline.course import deadlines, git_checks, git_intake, lms_intake, lms_times
from pipeline.course.handin_names import META_FILE, MODEL_FILES, explain_missing
from pipeline.course.lateness import RECORD_FILE
from pipeline.course.roster import SAFE_ID, Student, name_key, name_keys
from pipeline.course.settings import CourseSettings

MANAGED_FILES = (*MODEL_FILES, META_FILE, RECORD_FILE)
# Beside each mirrored repository: what the last collect saw (its time and the branch's tip), for
# the "pushed after the date they claim" check. Outside submissions/, so records stay deterministic.
LAST_COLLECT_FILE = "gradebench-last-collect.yaml"
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


class TemplateError(ValueError):
    """course.template cannot be read: a usage error (exit 2), since every starter would count."""


class WriteRefused(Exception):
    """submissions/<id>/ is not a place collect may write (symlink, or made by hand)."""


def iso(moment: Optional[datetime.datetime]) -> Optional[str]:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds") if moment else None


def render_record(record: dict, files: dict[str, bytes]) -> bytes:
    """submission.yaml's bytes: deterministic (no collection time), so an unchanged hand-in
    produces an identical record and nothing is rewritten."""
    full = {**record, "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    return (RECORD_HEADER + yaml.safe_dump(full, sort_keys=False, allow_unicode=True)).encode("utf-8")


def _umask_mode() -> int:
    """0o666 less the process umask: the mode any new file of the instructor's gets (0644 under 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path: Path, data: bytes) -> None:
    # A temporary file in the same folder, then a rename: a reader (or a crash) never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        # mkstemp makes it 0600; collected files are ordinary repository files.
        os.fchmod(handle, _umask_mode())
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


def _lateness_record(submitted_at, deadline, lateness: deadlines.Lateness, track: Optional[str]) -> dict:
    return {"submitted_at": iso(submitted_at), "track": track if deadline else None, "deadline": iso(deadline),
            "late": lateness.late, "late_days": lateness.late_days, "penalty": lateness.penalty}


def _described_lateness(record: dict) -> str:
    """How a previous submission.yaml's lateness reads ("on time", "2 day(s) late, penalty 20%")."""
    if not record.get("late"):
        return "on time"
    return deadlines.describe(deadlines.Lateness(True, record.get("late_days"), float(record.get("penalty") or 0), True))


def _read_last_collect(cache: Path) -> dict:
    try:
        raw = yaml.safe_load((cache / LAST_COLLECT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _previous_collect(submissions_dir: Path, student_id: str, cache: Path) -> git_checks.PreviousCollect:
    record = previous_record(submissions_dir, student_id)
    seen = _read_last_collect(cache)
    collected_at = seen.get("collected_at")
    if isinstance(collected_at, str):
        collected_at = datetime.datetime.fromisoformat(collected_at)
    if not isinstance(collected_at, datetime.datetime):
        collected_at = None
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
        checks += git_checks.pushed_after_their_date(
            own, previous, lambda sha: git_intake.is_ancestor(cache, sha, previous.tip))
        if not own:
            return StudentResult(student.student_id, Outcome.MISSING, _starter_detail(history), checks=checks)
        deadline = course.deadline(track, student.student_id)
        last = deadlines.cutoff(deadline, course.late_policy)
        newest = own[0]
        chosen = git_intake.newest_at_or_before(own, last)
        warnings = []
        if chosen is None:
            lateness = deadlines.assess(newest.time, deadline, course.late_policy)
            return StudentResult(student.student_id, Outcome.REJECTED,
                                 f"every commit of the student's is past the late policy's last day {iso(last)} "
                                 f"(newest {newest.short} at {iso(newest.time)}, {lateness.late_days} day(s) late)",
                                 lateness, checks=checks)
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
              **_lateness_record(chosen.time, deadline, lateness, track)}
    detail = f"commit {chosen.short} at {iso(chosen.time)}, {deadlines.describe(lateness)}"
    return _finish(submissions_dir, student, files, record, lateness, detail, warnings, checks)


def _write_last_collect(cache: Path, now: datetime.datetime, tip: str) -> None:
    text = yaml.safe_dump({"collected_at": iso(now), "tip": tip}, sort_keys=False)
    try:
        _atomic_write(cache / LAST_COLLECT_FILE, text.encode("utf-8"))
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


def _suggestion(name: str, students: list[Student], ignore_accents: bool) -> str:
    """"; did you mean s505 Zoe Lopez?" for the roster line whose name is closest, or ""."""
    keys: dict[str, Student] = {}
    for student in students:
        for known in (student.lms_name, student.display_name):
            if known:
                keys.setdefault(name_key(known, ignore_accents=True), student)
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
    for handin in export.handins:
        key = name_key(handin.name, ignore_accents)
        student = (exact.get(key) or reordered.get(key) or by_id.get(handin.name) or by_id.get(handin.number))
        if student is None:
            if key in ambiguous:
                unmatched.append(f"{handin.label}: several roster lines have this lms_name; make them differ")
            else:
                unmatched.append(f"{handin.label}: not on the roster"
                                 f"{_suggestion(handin.name, students, ignore_accents)}")
        elif student.student_id in matched:
            unmatched.append(f"{handin.label}: {student.student_id} already matched "
                             f"{matched[student.student_id].label}; fix lms_name in the roster")
        else:
            matched[student.student_id] = handin
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
    limits = lms_intake.ArchiveLimits(course.max_file_mb, course.max_export_mb, course.max_export_entries)
    export = lms_intake.read_export(kind, zip_path, limits, zone)
    matched, unmatched = match_handins(export, students, course.ignore_accents)
    report = CollectReport(kind, unmatched=unmatched, refused=export.refused)
    if kind == "canvas":
        report.notes.append(
            f"times: Canvas's LATE marks decide late or on time; days late from {', '.join(p.name for p in times_files)}"
            if times_files else
            "times: Canvas's LATE marks decide late or on time; days late unknown (give --times with Canvas's "
            "submission times to count them)")
    elif times_files:
        report.notes.append(f"times: Moodle's \"Last modified (submission)\" from {', '.join(p.name for p in times_files)}")
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
            f"the deadline {iso(deadline)}: Canvas's due date differs; counted {days} day(s) from Canvas's seconds_late"]
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
                             f"past the late policy's last day", lateness, warnings, checks)
    record = {"student_id": student.student_id, "source": kind, "repo": None, "commit": None,
              "lms_file": handin.entries[model_name], "lms_name": handin.name, "lms_late": handin.lms_late,
              **_lateness_record(submitted_at, deadline, lateness, track)}
    detail = f"{handin.entries[model_name]}, {deadlines.describe(lateness)}"
    return _finish(submissions_dir, student, handin.files, record, lateness, detail, warnings, checks)
