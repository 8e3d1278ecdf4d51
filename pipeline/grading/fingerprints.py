"""Content hashes: what decides whether a stored result is still valid.

A result depends on the submission folder, the track (schedule, limits, subset, seeds, hidden
split), the prepared data, the versions of the packages that compute predictions and the grading
code. The grading code is *exactly* the files under `GRADER_CODE`: the code that can change a
prediction, a score or a published figure. dvc.yaml's grade stage lists the same paths as its
code deps (a test checks that they agree), so DVC re-runs the stage when, and only when, cached
results may have gone stale. Orchestration, logging, MLflow publishing and reporting are left
out on purpose: reorganising how a course is graded, or restyling a plot, must not re-train a
course's worth of models.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

from pipeline.config import HiddenSplit, Track
from pipeline.data.layout import HIDDEN_X_FILE, HIDDEN_Y_FILE, PUBLIC_FILE
from pipeline.file_hash import file_sha256
from pipeline.handin_record import RECORD_FILE as HANDIN_RECORD

IGNORED_NAMES = {"__pycache__", ".DS_Store"}
IGNORED_SUFFIXES = (".pyc",)
REPO_ROOT = Path(__file__).resolve().parents[2]
# Relative to the repository root; dvc.yaml's grade stage lists the same paths as deps. Why each
# one is in the key (anything else under pipeline/ can change without re-training anything):
GRADER_CODE = (
    # The trainer (build and train steps: how the model is built, fitted and made to predict) and
    # the sandbox it runs in (limits and supervision decide timeouts, memory failures and statuses).
    "pipeline/sandbox",
    # Imported by the trainer: the status names written into every result, and its atomic writes.
    "pipeline/status.py",
    "pipeline/atomic.py",
    # The schedule, limits, subset and seeds: their defaults and validation decide the values the
    # trainer is given (the values themselves are in the key through track_fingerprint).
    "pipeline/config.py",
    # The strict base of every settings model above (unknown keys rejected).
    "pipeline/strict.py",
    # Grade-time data code: loading the prepared arrays and the public/private split of the hidden
    # set. (Download and preprocessing are in the key through their output, data_fingerprint.)
    "pipeline/data/layout.py",
    "pipeline/data/splits.py",
    # What each sandbox is given: the track's slice of the prepared arrays and its job file.
    "pipeline/grading/jobs.py",
    # Trusted scoring: accuracies against the hidden labels, the integrity checks, the recount.
    "pipeline/grading/scoring.py",
    # The integrity flag stored with each result (a hidden-test accuracy far above validation).
    "pipeline/grading/integrity.py",
    # How the per-seed scores combine into the published mean and spread.
    "pipeline/grading/seeds.py",
    # The architecture and source hashes stored with each result (the leaderboard's duplicate flags).
    "pipeline/grading/duplicates.py",
    # meta.yaml's validation (a bad one is status invalid) and the facts stored with each result.
    "pipeline/grading/submission_facts.py",
    # The collect record read back into each result: its lateness and penalty reach grades.csv.
    "pipeline/handin_record.py",
    # The result record: its fields and schema version (a new schema makes stored results stale).
    "pipeline/grading/record.py",
    # How each file above is hashed (part of the key's recipe).
    "pipeline/file_hash.py",
    # This file: the key's own recipe, so a new recipe re-runs the stage that applies it.
    "pipeline/grading/fingerprints.py",
)
# The installed packages that compute a prediction (Python's own version is added to these): a
# new TensorFlow, Keras or NumPy may change any model's weights, so every result goes stale.
PREDICTION_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy")


def is_ignored(relative: Path) -> bool:
    return bool(IGNORED_NAMES.intersection(relative.parts)) or relative.name.endswith(IGNORED_SUFFIXES)


def folder_files(folder: Path) -> list[Path]:
    """Every file under `folder` that counts, in sorted order (caches and byte code excluded)."""
    return [path for path in sorted(folder.rglob("*"))
            if path.is_file() and not is_ignored(path.relative_to(folder))]


def folder_sha256(folder: Path) -> str:
    """Hash of every file's relative path and bytes, in sorted order (independent of mtimes)."""
    digest = hashlib.sha256()
    for path in folder_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def submission_sha256(folder: Path) -> str:
    """folder_sha256 of a submission without its hand-in record (submission.yaml, from `collect`).

    Where and when the work was handed in is not the work: a new deadline or late policy must not
    re-train anything. The grade stage refreshes the hand-in fields of cached results instead.
    """
    digest = hashlib.sha256()
    for path in folder_files(folder):
        relative = path.relative_to(folder).as_posix()
        if relative == HANDIN_RECORD:
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def json_sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def grader_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files whose bytes are the grading code, relative to `root`."""
    files = []
    for entry in GRADER_CODE:
        path = root / entry
        files += folder_files(path) if path.is_dir() else [path]
    return [path.relative_to(root) for path in files]


@functools.lru_cache(maxsize=None)
def grader_fingerprint(root: Path = REPO_ROOT) -> str:
    """The grading code's own hash (per process: the code does not change while it runs);
    `rerun` compares it to say whether the code is the same, and Ray nodes must match it."""
    return json_sha256([[path.as_posix(), file_sha256(root / path)] for path in grader_files(root)])


@functools.lru_cache(maxsize=None)
def package_versions() -> dict[str, str]:
    """Python's version and each installed PREDICTION_PACKAGES version (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for package in PREDICTION_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def data_fingerprint(prepared_dir: Path) -> str:
    files = [PUBLIC_FILE, HIDDEN_X_FILE, HIDDEN_Y_FILE]
    return json_sha256([file_sha256(prepared_dir / name) for name in files])


def track_fingerprint(track: Track, data_key: str, hidden_split: HiddenSplit = HiddenSplit()) -> str:
    """Everything besides the submission itself that a result depends on."""
    return json_sha256({
        "schedule": track.schedule.model_dump(),
        "limits": track.limits.model_dump(),
        "subset": track.subset.model_dump(),
        "seeds": track.seeds,
        "hidden_split": hidden_split.model_dump(),
        "data": data_key,
        "grader": grader_fingerprint(),
        "packages": package_versions(),
    })


def cache_key(content_hash: str, track_key: str) -> str:
    return json_sha256([content_hash, track_key])
