"""MLflow logging: one experiment per track, one run per graded submission.

The runs table of a track's experiment is its leaderboard: run name = submission id; metrics
`public_accuracy` (the ranking accuracy during the course), `private_accuracy`, `trainable_params`,
`train_seconds` and `rank` (set by `grade` once the track is graded); tags `status`, `baseline`,
`duplicate_of`, `review` (the integrity flag's message, empty when none) and `current`. A
re-graded submission's new run becomes current and its older runs are kept but tagged
`current=false`, `superseded=true`.

Every run also records its provenance: the submission's content hash and a copy of its files,
the git commit, the prepared data's hash in dvc.lock, the schedule, seeds, hidden split and
package versions, and the full result (result.json), which `python -m pipeline rerun` re-grades.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import sqlite3
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Optional

import psutil
import yaml

# Grading machines are often offline and grading records are the course's own: MLflow 3 would
# otherwise start a usage-telemetry client in every grading process (set before importing it).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from pipeline.grading.record import Result  # noqa: E402
from pipeline.reporting.store_uri import sqlite_path  # noqa: E402

SCALAR_METRICS = ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy",
                  "train_seconds", "predict_seconds", "wall_seconds", "peak_rss_mb", "trainable_params",
                  "total_params")
STD_SUFFIX = "_std"
# Per-seed values are logged with the seed as the step: `seed_public_accuracy` at step 1234, ...
PER_SEED_PREFIX = "seed_"
# History keys are renamed so per-epoch curves sit apart from the final scores.
HISTORY_PREFIX = "epoch_"
RANK_METRIC = "rank"
RESULT_ARTIFACT = "result.json"
SUBMISSION_ARTIFACT_DIR = "submission"
FEEDBACK_ARTIFACT_DIR = "feedback"
VERSION_TAG_PREFIX = "version."
# The runs of the leaderboard; superseded re-grades are kept but tagged current=false.
CURRENT_FILTER = "tags.current = 'true'"
# Runs per search page: MLflow's default page size and what its servers serve per request.
SEARCH_PAGE_SIZE = 1000
VERSIONED_PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "numpy", "mlflow", "dvc", "pandas")


def experiment_name(track_name: str) -> str:
    return f"gradebench-{track_name}"


def make_client(tracking_uri: str) -> MlflowClient:
    # MLflow's own INFO lines would drown the grading progress.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    db_path = sqlite_path(tracking_uri)
    if db_path is not None and not os.path.exists(db_path):
        create_sqlite_store(db_path, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    if db_path is not None:
        client._tracking_client.store  # noqa: B018 - opens it (and checks its schema version)
        use_write_ahead_log(db_path)
    return client


CREATING_SUFFIX = ".creating-"


def create_sqlite_store(db_path: str, tracking_uri: str) -> None:
    """Create a new sqlite store all at once: MLflow's schema migrations (seconds, dozens of steps)
    run on `<db>.creating-<pid>`, which is linked to the real name only when they are done. A
    Ctrl-C or a kill during creation then leaves no half-migrated mlflow.db, which would fail every
    later run ("table ... already exists"); the leftover is removed by the next creation. Linking
    (not renaming) never replaces a store another grader created meanwhile."""
    for leftover in Path(db_path).parent.glob(Path(db_path).name + CREATING_SUFFIX + "*"):
        pid = leftover.name.rsplit(CREATING_SUFFIX, 1)[1].split("-")[0]
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):  # as leftovers.sweep judges scratch folders
            leftover.unlink(missing_ok=True)
    scratch = f"{db_path}{CREATING_SUFFIX}{os.getpid()}"
    for name in (scratch, scratch + "-journal"):
        Path(name).unlink(missing_ok=True)
    store = MlflowClient(tracking_uri=tracking_uri.replace(db_path, scratch, 1))._tracking_client.store
    store.engine.dispose()  # every connection to the scratch name closed before it gets its real one
    try:
        os.link(scratch, db_path)
    except FileExistsError:
        pass  # another grader created it first: use theirs
    finally:
        Path(scratch).unlink(missing_ok=True)


def use_write_ahead_log(db_path: str) -> None:
    """Switch a sqlite store to write-ahead logging (persistent in the file, so once is enough).

    In its default rollback-journal mode every MLflow write (one per run logged or re-ranked) is
    a transaction with several fsyncs, so a full re-rank of a large class takes seconds per
    hundred students; with WAL each write is one append, about five times faster. Readers
    (`mlflow ui`) do not block the grader either. (WAL needs a local disk, as sqlite itself does.)"""
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as connection:
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode=WAL")


def get_experiment_id(client: MlflowClient, track_name: str, artifact_root: Optional[Path]) -> str:
    name = experiment_name(track_name)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # With a local sqlite store, keep artifacts beside it instead of in the caller's cwd; a
    # tracking server decides for itself (its --artifacts-destination).
    location = (artifact_root / name).resolve().as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def dvc_lock_data_md5(dataset_name: str, lock_path: Path = Path("dvc.lock")) -> str:
    """The md5 dvc.lock records for data/prepared/<dataset> (the preprocess stage's output)."""
    try:
        lock = yaml.safe_load(lock_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "unknown"
    stage = (lock.get("stages") or {}).get(f"preprocess@{dataset_name}") or {}
    for out in stage.get("outs") or []:
        if out.get("path") == f"data/prepared/{dataset_name}":
            return str(out.get("md5", "unknown"))
    return "unknown"


def provenance() -> dict[str, str]:
    """What a run was produced with: the code's git commit and the key package versions."""
    try:
        completed = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        commit = completed.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    tags = {"git_commit": commit, "git_dirty": "true" if dirty else "false",
            "version.python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            tags[f"{VERSION_TAG_PREFIX}{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return tags


def _flag(value) -> str:
    return "true" if value else "false"


def handin_tags(late, late_days, penalty, source, commit, lms_file) -> dict[str, str]:
    """Lateness and provenance tags (from `collect`'s submission.yaml): what exactly was graded."""
    return {
        "late": _flag(late),
        "late_days": str(int(late_days or 0)),
        "penalty": f"{float(penalty or 0):g}",
        "handin_source": source or "",
        "handin_commit": commit or "",
        "handin_lms_file": lms_file or "",
    }


def run_tags(result: Result) -> dict[str, str]:
    return {
        **handin_tags(result.late, result.late_days, result.penalty, result.handin_source, result.handin_commit,
                      result.handin_lms_file),
        "current": "true",
        "superseded": "false",
        "submission": result.submission,
        "student_id": str(result.student_id or result.submission),
        "track": result.track,
        "status": result.status,
        "baseline": _flag(result.baseline),
        "error": (result.error or "")[:5000],
        "content_hash": result.content_hash,
        "source_hash": result.source_hash or "",
        "architecture_hash": result.architecture_hash or "",
        "submitted_at": result.submitted_at or "",
        "submitted_at_source": result.submitted_at_source or "",
        "data_fingerprint": result.data_fingerprint,
        "grader_fingerprint": result.grader_fingerprint,
        "output_kind": result.output_kind or "",
        # true: model.py's own classes were loaded where the model trained (docs/architecture/trust-boundary.md).
        "custom_code": "" if result.custom_code is None else _flag(result.custom_code),
        # The integrity flag (grading/integrity.py): hidden-test accuracy far above validation.
        "review": result.review or "",
        # Where it trained (the Ray node id on a cluster) and the attempts lost with their workers.
        "executor": result.executor,
        "node": result.node or "",
        "lost_attempts": "\n".join(result.lost_attempts)[:5000],
    }


def run_params(result: Result) -> dict[str, str]:
    config = result.grading_config
    track = config.get("track") or {}
    params = {f"schedule.{key}": value for key, value in result.schedule.items()}
    params.update({f"subset.{key}": value for key, value in (track.get("subset") or {}).items()})
    params.update({f"hidden_split.{key}": value for key, value in (config.get("hidden_split") or {}).items()})
    params["seeds"] = ",".join(str(seed) for seed in result.seeds or [result.schedule["seed"]])
    for key in ("trainable_params", "total_params"):
        if getattr(result, key) is not None:
            params[key] = getattr(result, key)
    return {key: str(value) for key, value in params.items()}


def run_metrics(result: Result, now: int) -> list[Metric]:
    metrics = []
    for key in SCALAR_METRICS:
        for name in (key, key + STD_SUFFIX):
            value = getattr(result, name, None)
            if value is not None and math.isfinite(float(value)):
                metrics.append(Metric(name, float(value), now, 0))
    if len(result.per_seed) > 1:
        for entry in result.per_seed:
            for key in ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy"):
                if getattr(entry, key) is not None:
                    metrics.append(Metric(PER_SEED_PREFIX + key, float(getattr(entry, key)), now, entry.seed))
    for key, values in (result.history or {}).items():
        metrics += [Metric(HISTORY_PREFIX + key, value, now, step) for step, value in enumerate(values, start=1)
                    if math.isfinite(value)]
    return metrics


class TrackLogger:
    """Logs results of one track as they arrive (reuses one client and experiment)."""

    def __init__(self, tracking_uri: str, track_name: str, artifact_root: Optional[Path],
                 dataset_name: Optional[str] = None, submissions_dir: Path = Path("submissions")):
        self.client = make_client(tracking_uri)
        self.experiment_id = get_experiment_id(self.client, track_name, artifact_root)
        self.provenance = provenance()
        if dataset_name is not None:
            self.provenance["data_dvc_lock_md5"] = dvc_lock_data_md5(dataset_name)
        self.submissions_dir = submissions_dir

    def current_runs(self) -> list:
        return current_runs(self.client, self.experiment_id)

    def supersede_previous(self, submission: str, new_run_id: str) -> None:
        """Mark earlier runs of this submission as superseded, so one row per student is current.

        The search filters on the submission tag, so it returns this submission's current runs
        (normally one) however many students the experiment holds."""
        query = f"{CURRENT_FILTER} and tags.submission = {filter_literal(submission)}"
        for run in search_all_runs(self.client, [self.experiment_id], query):
            if run.info.run_id == new_run_id or run.data.tags.get("submission") != submission:
                continue
            self.client.log_batch(run.info.run_id, tags=[
                RunTag("current", "false"), RunTag("superseded", "true"), RunTag("superseded_by", new_run_id)])

    def log(self, result: Result, log_tail: str, feedback_dir: Optional[Path] = None) -> str:
        """Create one finished run for `result` (superseding older ones); returns its run id.
        `feedback_dir`: where the result's feedback_files are (they are relative to it)."""
        run = self.client.create_run(self.experiment_id, run_name=result.submission,
                                     tags={**self.provenance, **run_tags(result), "current": "pending"})
        run_id = run.info.run_id
        self.client.log_batch(
            run_id,
            metrics=run_metrics(result, int(time.time() * 1000)),
            params=[Param(key, value) for key, value in run_params(result).items()],
            tags=[RunTag("mlflow.note.content", result.error or "")],
        )
        self.client.log_text(run_id, log_tail, "grading_log.txt")
        self.client.log_text(run_id, result.model_dump_json(indent=2), RESULT_ARTIFACT)
        if result.model_summary:
            self.client.log_text(run_id, result.model_summary, "model_summary.txt")
        submission_dir = self.submissions_dir / result.submission
        if submission_dir.is_dir():
            self.client.log_artifacts(run_id, str(submission_dir), SUBMISSION_ARTIFACT_DIR)
        if feedback_dir is not None:
            for name in result.feedback_files:
                if (feedback_dir / name).is_file():
                    self.client.log_artifact(run_id, str(feedback_dir / name), FEEDBACK_ARTIFACT_DIR)
        # Only a fully logged run becomes the current entry; then the older ones step aside.
        self.client.set_tag(run_id, "current", "true")
        self.supersede_previous(result.submission, run_id)
        self.client.set_terminated(run_id, status="FINISHED" if result.status == "ok" else "FAILED")
        return run_id


def filter_literal(value: str) -> str:
    """A string literal for MLflow's search filter (quoted with whichever quote it lacks)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"submission id {value!r} holds both kinds of quote; rename its folder")


def search_all_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str,
                    order_by: Optional[list[str]] = None) -> list:
    """Every run matching the filter, page by page.

    A tracking server caps each page (MLflow issue 15814: a caller that does not follow
    `PagedList.token` silently stops at 1,000 runs), so this follows the token to the end."""
    runs: list = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=SEARCH_PAGE_SIZE,
                                  order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def current_runs(client: MlflowClient, experiment_id: str) -> list:
    return search_all_runs(client, [experiment_id], CURRENT_FILTER)


def rank_row_tags(row: dict) -> dict[str, str]:
    """The tags a leaderboard row puts on its run: Pareto and duplicate flags, hand-in facts."""
    # Lateness can change without a re-grade (a new deadline or policy): kept current here too.
    return {"pareto": _flag(row.get("pareto")), "duplicate_of": row.get("duplicate_of") or "",
            **(row.get("handin_tags") or {})}


def write_rank_row(client: MlflowClient, run_id: str, row: dict, held_tags: dict, held_rank: Optional[float]) -> bool:
    """Write onto one run what of `row` differs from what it holds (`held_tags`, `held_rank`);
    return whether anything was written.

    The rank is the `rank` metric alone, which the leaderboard view sorts by. A change in a class of
    1,000 moves hundreds of ranks, and each moved rank is a write: a metric on its own costs about
    half of the same metric with a tag in one `log_batch`."""
    tags = [RunTag(key, value) for key, value in rank_row_tags(row).items() if held_tags.get(key) != value]
    rank = row.get("rank")
    metric = (Metric(RANK_METRIC, float(rank), int(time.time() * 1000), 0)
              if rank is not None and held_rank != float(rank) else None)
    if tags:
        client.log_batch(run_id, metrics=[metric] if metric else [], tags=tags)
    elif metric:
        client.log_metric(run_id, metric.key, metric.value, metric.timestamp, metric.step)
    return bool(tags or metric)


# Runs published before the rank was a metric alone also carry it as a tag, which would go stale.
LEGACY_RANK_TAG = "rank"


def publish_ranks(client: MlflowClient, experiment_id: str, rows: list[dict], runs: Optional[list] = None) -> int:
    """Put the leaderboard's rank, Pareto and duplicate flags on each current run (reading what each
    holds, so only differences are written); return how many runs changed.

    rows: dicts with submission, rank (None for failed), pareto, duplicate_of and optionally
    handin_tags (tracking.handin_tags). A one-column sort
    by `rank` in `mlflow ui` then reproduces the leaderboard with all of its tie-breaks.
    runs: the current runs to update, if the caller has them; otherwise every current run is searched.
    """
    by_submission = {row["submission"]: row for row in rows}
    updated = 0
    for run in current_runs(client, experiment_id) if runs is None else runs:
        row = by_submission.get(run.data.tags.get("submission"))
        if row is None:
            continue
        if LEGACY_RANK_TAG in run.data.tags:
            client.delete_tag(run.info.run_id, LEGACY_RANK_TAG)
        if write_rank_row(client, run.info.run_id, row, run.data.tags, run.data.metrics.get(RANK_METRIC)):
            updated += 1
    return updated
