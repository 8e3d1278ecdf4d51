"""What the grader knows about a submission besides its code: meta.yaml and when it was submitted.

`submissions/<id>/meta.yaml` is optional:

    baseline: true            # a reference submission: tagged in MLflow, left out of grades.csv
    student_id: s1234567      # the id the LMS knows (default: the folder name)
    display_name: Night Owl   # your name on the public course site (default: a generated pseudonym)

A folder written by `python -m pipeline collect` also holds submission.yaml, the hand-in record
(pipeline/handin_record.py): its source, commit or LMS file, hand-in time and lateness become
the result's `handin_*`, `late`, `late_days` and `penalty` fields, and its hand-in time is the
submission time.

Otherwise the submission time (the leaderboard's last tie-break: earlier wins) is the commit time
of the last git commit that touched the folder, when the folder is committed and unchanged since; otherwise
(uncommitted changes, or no git) the newest modification time of its files. Commit time is the
honest "when was it handed in" in a repository of submissions; mtimes are a fallback only,
since copying or checking out files resets them.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Optional

import yaml
from pydantic import Field, ValidationError

from pipeline.handin_record import read_submission_record
from pipeline.grading import duplicates
from pipeline.strict import Strict

META_FILE = "meta.yaml"


class SubmissionMeta(Strict):
    baseline: bool = False
    student_id: Optional[str] = Field(default=None, min_length=1, max_length=200)
    display_name: Optional[str] = Field(default=None, min_length=1, max_length=40)


class MetaError(ValueError):
    """meta.yaml is unreadable or has a bad value (the submission is then invalid)."""


def load_meta(submission_dir: Path) -> SubmissionMeta:
    path = submission_dir / META_FILE
    if not path.is_file():
        return SubmissionMeta()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise MetaError(f"{submission_dir.name}/{META_FILE} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise MetaError(f"{submission_dir.name}/{META_FILE}: expected a mapping such as `baseline: true`")
    try:
        return SubmissionMeta.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise MetaError(f"{submission_dir.name}/{META_FILE}: {problems} (allowed keys: baseline, student_id, display_name)") from None


def _git(arguments: list[str], cwd: Path) -> Optional[str]:
    try:
        completed = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def submitted_at(submission_dir: Path) -> tuple[Optional[str], str]:
    """(ISO-8601 UTC time, "git commit" or "file mtime") of the submission; see the module doc."""
    submission_dir = submission_dir.resolve()
    changed = _git(["status", "--porcelain", "--", "."], submission_dir)
    if changed == "":  # inside a repository, and nothing uncommitted in this folder
        committed = _git(["log", "-1", "--format=%ct", "--", "."], submission_dir)
        if committed:
            return _iso(int(committed)), "git commit"
    mtimes = [path.stat().st_mtime for path in submission_dir.rglob("*") if path.is_file()]
    return (_iso(max(mtimes)) if mtimes else None), "file mtime"


def handin_facts(submission_dir: Path) -> dict:
    """The result fields from the hand-in record (defaults when there is none; see the module doc)."""
    record = read_submission_record(submission_dir)
    if record is None:
        return {"handin_source": None, "handin_commit": None, "handin_lms_file": None,
                "late": False, "late_days": 0, "penalty": 0.0}
    facts = {"handin_source": record["source"], "handin_commit": record["commit"],
             "handin_lms_file": record["lms_file"], "late": record["late"], "late_days": record["late_days"],
             "penalty": record["penalty"]}
    if record["submitted_at"]:
        facts.update(submitted_at=str(record["submitted_at"]), submitted_at_source=f"{record['source']} hand-in")
    return facts


def describe(submission_dir: Path) -> tuple[dict, Optional[str]]:
    """Trusted facts about a submission (meta.yaml, submission time, hand-in, source fingerprint),
    and the meta.yaml problem that makes it invalid, if any."""
    when, how = submitted_at(submission_dir)
    facts = {"submitted_at": when, "submitted_at_source": how,
             "source_hash": duplicates.source_hash(submission_dir), **handin_facts(submission_dir)}
    try:
        meta = load_meta(submission_dir)
    except MetaError as error:
        return {**facts, "baseline": False, "student_id": submission_dir.name}, str(error)
    return {**facts, "baseline": meta.baseline, "student_id": meta.student_id or submission_dir.name}, None
