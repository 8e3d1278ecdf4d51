"""MLflow logging: one experiment per track, one run per graded submission.

Sorting a track's runs table by `test_accuracy` in `mlflow ui` is the leaderboard the TAs review.
"""

from __future__ import annotations

import logging
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Optional

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

SCALAR_METRICS = ("test_accuracy", "validation_accuracy", "train_seconds", "predict_seconds",
                  "wall_seconds", "peak_rss_mb")
# History keys are renamed so per-epoch curves sit apart from the final scores.
HISTORY_PREFIX = "epoch_"


def experiment_name(track_name: str) -> str:
    return f"gradebench-{track_name}"


def get_experiment_id(client: MlflowClient, track_name: str, artifact_root: Optional[Path]) -> str:
    name = experiment_name(track_name)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # With a local sqlite store, keep artifacts beside it instead of in the caller's cwd.
    location = (artifact_root / name).resolve().as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


VERSIONED_PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "numpy", "mlflow")


def provenance() -> dict[str, str]:
    """What a run was produced with: the code's git commit and the key package versions."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    tags = {"git_commit": commit}
    for package in VERSIONED_PACKAGES:
        try:
            tags[f"version.{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return tags


class TrackLogger:
    """Logs results of one track as they arrive (reuses one client and experiment)."""

    def __init__(self, tracking_uri: str, track_name: str, artifact_root: Optional[Path]):
        # MLflow's own INFO lines would drown the grading progress.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment_id = get_experiment_id(self.client, track_name, artifact_root)
        self.provenance = provenance()

    def supersede_previous(self, submission: str) -> None:
        """Mark earlier runs of this submission as superseded, so one row per student is current."""
        # Filtered here rather than in the query: folder names may hold quotes a filter cannot.
        current = self.client.search_runs([self.experiment_id], filter_string="tags.current = 'true'")
        for run in (run for run in current if run.data.tags.get("submission") == submission):
            self.client.set_tag(run.info.run_id, "current", "false")
            self.client.set_tag(run.info.run_id, "superseded", "true")

    def log(self, result: dict, log_tail: str) -> str:
        """Create one finished run for `result` (superseding older ones); returns its run id."""
        self.supersede_previous(result["submission"])
        run = self.client.create_run(self.experiment_id, run_name=result["submission"], tags={
            **self.provenance,
            "current": "true",
            "data_fingerprint": result.get("data_fingerprint", ""),
            "submission": result["submission"],
            "track": result["track"],
            "status": result["status"],
            "error": (result.get("error") or "")[:5000],
            "content_hash": result["content_hash"],
            "output_kind": result.get("output_kind") or "",
        })
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        params = {f"schedule.{key}": value for key, value in result["schedule"].items()}
        for key in ("trainable_params", "total_params"):
            if result.get(key) is not None:
                params[key] = result[key]
        metrics = [Metric(key, float(result[key]), now, 0) for key in SCALAR_METRICS if result.get(key) is not None]
        for key, values in (result.get("history") or {}).items():
            metrics += [Metric(HISTORY_PREFIX + key, value, now, step) for step, value in enumerate(values, start=1)]
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(key, str(value)) for key, value in params.items()],
            tags=[RunTag("mlflow.note.content", result.get("error") or "")],
        )
        self.client.log_text(run_id, log_tail, "grading_log.txt")
        if result.get("model_summary"):
            self.client.log_text(run_id, result["model_summary"], "model_summary.txt")
        self.client.set_terminated(run_id, status="FINISHED" if result["status"] == "ok" else "FAILED")
        return run_id
