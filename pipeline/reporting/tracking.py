"""Logging a track's results to MLflow as they arrive: one experiment per track, one run per submission.

What a run records is in run_fields.py, the names of its artifacts in grading/run_artifacts.py. A
re-graded submission's new run becomes current and its older runs are kept but tagged
`current=false`, `superseded=true`. Besides its fields, a run stores the grading log, the model
summary, the feedback images, a copy of the submission's files and the full result (result.json),
which `python -m pipeline rerun` re-grades.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from mlflow.entities import Param, RunTag

from pipeline.grading.record import Result
from pipeline.grading.run_artifacts import (FEEDBACK_ARTIFACT_DIR, GRADING_LOG_ARTIFACT, MODEL_SUMMARY_ARTIFACT,
                                            RESULT_ARTIFACT, SUBMISSION_ARTIFACT_DIR)
from pipeline.reporting.run_fields import dvc_lock_data_md5, provenance, run_metrics, run_params, run_tags
from pipeline.reporting.run_search import CURRENT_FILTER, current_runs, filter_literal, search_all_runs
from pipeline.reporting.tracking_store import get_experiment_id, make_client


class TrackLogger:
    """Logs results of one track as they arrive (reuses one client and experiment).

    `submissions_dir`: where each result's submission folder is (copied into its run);
    `dvc_lock`: the dvc.lock whose hash of the prepared `dataset_name` each run records."""

    def __init__(self, tracking_uri: str, track_name: str, artifact_root: Optional[Path], *,
                 submissions_dir: Path, dataset_name: Optional[str] = None, dvc_lock: Optional[Path] = None):
        self.client = make_client(tracking_uri)
        self.experiment_id = get_experiment_id(self.client, track_name, artifact_root)
        self.provenance = provenance()
        if dataset_name is not None and dvc_lock is not None:
            self.provenance["data_dvc_lock_md5"] = dvc_lock_data_md5(dataset_name, dvc_lock)
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
        self.client.log_text(run_id, log_tail, GRADING_LOG_ARTIFACT)
        self.client.log_text(run_id, result.model_dump_json(indent=2), RESULT_ARTIFACT)
        if result.model_summary:
            self.client.log_text(run_id, result.model_summary, MODEL_SUMMARY_ARTIFACT)
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
