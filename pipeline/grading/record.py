"""The result record: one typed value per graded submission, written to results/<track>/<id>.json.

Every writer (grading) and reader (leaderboard, MLflow logging, rerun) goes through `Result`, so
a key is spelled in one place and a misspelt one fails loudly instead of reading as missing.
Files carry `schema_version`; a file written by another schema (or garbled, or half-written) reads
as None, which the cache treats as stale: it is re-graded, never misread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline import atomic

SCHEMA_VERSION = 2
RESULT_SUFFIX = ".json"
LOG_SUFFIX = ".log"


class SeedScores(BaseModel):
    """One seed's scores, kept for the record and for `rerun`'s bit-identical comparison."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    public_accuracy: Optional[float] = None
    private_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None
    validation_accuracy: Optional[float] = None
    train_seconds: Optional[float] = None
    predict_seconds: Optional[float] = None
    predictions_sha256: Optional[str] = None
    wall_seconds: Optional[float] = None


class Result(BaseModel):
    # NaN and infinity stay themselves in the file (a diverged run's history holds them).
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    schema_version: Literal[2] = SCHEMA_VERSION
    # Who and what.
    submission: str
    track: str
    student_id: Optional[str] = None
    baseline: bool = False
    content_hash: str
    source_hash: Optional[str] = None
    architecture_hash: Optional[str] = None
    submitted_at: Optional[str] = None
    submitted_at_source: Optional[str] = None
    # The hand-in (submissions/<id>/submission.yaml, written by `collect`; defaults without one):
    # where it came from, exactly what was taken, and how late it was under the course's policy.
    handin_source: Optional[str] = None  # git, moodle or canvas
    handin_commit: Optional[str] = None
    handin_lms_file: Optional[str] = None
    late: bool = False
    late_days: int = 0
    penalty: float = 0.0  # fraction of the marks taken off (grades.csv applies it)
    # Outcome: a status from pipeline.status and a one-line message a student can act on.
    status: str
    error: Optional[str] = None
    # Scores (trusted: computed by the grader against the hidden labels), mean over seeds.
    public_accuracy: Optional[float] = None
    public_accuracy_std: Optional[float] = None
    private_accuracy: Optional[float] = None
    private_accuracy_std: Optional[float] = None
    test_accuracy: Optional[float] = None
    test_accuracy_std: Optional[float] = None
    validation_accuracy: Optional[float] = None
    validation_accuracy_std: Optional[float] = None
    # The integrity flag (grading/integrity.py): a hidden-test accuracy far above validation, for a
    # person to review; None when the two agree as an honest model's do.
    review: Optional[str] = None
    # The model and its training.
    # Counted by the trainer: total_params is every parameter (the budget's count: each weight,
    # trainable or not, plus constant_params, the values in a traced graph's large constants).
    trainable_params: Optional[int] = None
    total_params: Optional[int] = None
    constant_params: Optional[int] = None
    output_kind: Optional[str] = None
    # True: a custom model (its own classes), which reached training as a traced graph.
    custom_code: Optional[bool] = None
    optimizer_updates: Optional[int] = None
    history: Optional[dict[str, list[float]]] = None
    epoch_seconds: Optional[list[float]] = None
    train_seconds: Optional[float] = None
    train_seconds_std: Optional[float] = None
    predict_seconds: Optional[float] = None
    predict_seconds_std: Optional[float] = None
    model_summary: Optional[str] = None
    seeds: list[int] = []
    per_seed: list[SeedScores] = []
    feedback_files: list[str] = []
    # How it ran.
    wall_seconds: float = 0.0
    # The cores each sandboxed step was held to (cgroup CPU quota); None: no quota could be set.
    cpu_quota_cores: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    sandboxed: Optional[bool] = None
    executor: str = "local"
    node: Optional[str] = None
    lost_attempts: list[str] = []
    threads: Optional[int] = None
    # Provenance: what it was graded with, enough for `rerun` to grade it again exactly.
    cache_key: str
    data_fingerprint: str
    grader_fingerprint: str
    schedule: dict
    grading_config: dict
    graded_at: str

    def write(self, results_dir: Path) -> Path:
        path = results_dir / f"{self.submission}{RESULT_SUFFIX}"
        atomic.write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def read_result(path: Path) -> Optional[Result]:
    """The result stored at `path`, or None when it is missing, garbled or of another schema."""
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
        return None  # written by another version of the grader: grade again
    try:
        return Result.model_validate(raw)
    except ValidationError:
        return None
