"""Publishing a track's grading to MLflow: one run per result as it arrives, then the ranks.

`MlflowPublisher` opens the store in the background: importing MLflow and opening the store take
seconds (bench/: most of what grading one submission cost beyond training), so the grade command
starts it only once the first training is under way, when the sandboxes' own imports are done:
any earlier, it slowed their TensorFlow imports from 1.8 s to 2.9 s on 2 cores (lowering the
thread's priority does not help: each sandbox runs in its own session, and with the kernel's
autogroup scheduling sessions share the CPU equally whatever a thread's nice value). Ranks and flags go onto the runs after the track is graded,
where the store is already open, so the runs are current after a plain `grade` too.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline.reporting.store_uri import sqlite_path


def local_artifact_root(uri: str) -> Optional[Path]:
    """Artifacts of a local sqlite store go to mlruns/ beside it; a server keeps its own."""
    return Path("mlruns") if uri.startswith("sqlite") else None


class MlflowPublisher:
    """Logs one track's results to MLflow from a background thread started on first use."""

    def __init__(self, tracking_uri: str, track_name: str, dataset_name: str, submissions_dir: Path):
        self.tracking_uri, self.track_name = tracking_uri, track_name
        self.dataset_name, self.submissions_dir = dataset_name, submissions_dir
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")

    def _open(self):
        from pipeline.reporting import feedback, tracking
        feedback.warm_up()  # matplotlib's first figure, for the first result's plots
        return tracking.TrackLogger(self.tracking_uri, self.track_name,
                                    artifact_root=local_artifact_root(self.tracking_uri),
                                    dataset_name=self.dataset_name, submissions_dir=self.submissions_dir)

    @functools.cached_property
    def _logger(self) -> Future:
        return self._background.submit(self._open)

    def store_is_new(self) -> bool:
        """A local sqlite store that does not exist yet (opening it creates it)."""
        path = sqlite_path(self.tracking_uri)
        return path is not None and not Path(path).exists()

    def start(self) -> None:
        """Begin importing MLflow and opening the store (called once the first training is under way)."""
        self._logger  # noqa: B018 - starting the background open is the point

    def log(self, result, log_tail: str, results_dir: Path) -> None:
        self._logger.result().log(result, log_tail, results_dir)

    def publish_ranks(self, ranked: pd.DataFrame, reveal_private: bool) -> None:
        publish_ranks(self._logger.result().client, {self.track_name: ranked}, reveal_private)

    def close(self) -> None:
        self._background.shutdown(wait=True)


def rank_rows(ranked: pd.DataFrame) -> list[dict]:
    """submission, rank (None for failed), pareto, duplicate_of and hand-in tags of each ranked row."""
    from pipeline.reporting.tracking import handin_tags

    rows = []
    for row in ranked.astype(object).where(ranked.notna(), None).itertuples():
        rank = None if row.rank is None or row.rank != row.rank else int(row.rank)
        rows.append({"submission": row.submission, "rank": rank, "pareto": bool(row.pareto),
                     "duplicate_of": row.duplicate_of,
                     "handin_tags": handin_tags(row.late, row.late_days, row.penalty, row.handin_source,
                                                row.handin_commit, row.handin_lms_file)})
    return rows


def publish_ranks(client, ranked_tables: dict[str, pd.DataFrame], reveal_private: bool) -> None:
    """Put ranks and flags on the current runs and (re)install each track's leaderboard view."""
    from pipeline.reporting import tracking, ui

    for track_name, ranked in ranked_tables.items():
        experiment = client.get_experiment_by_name(tracking.experiment_name(track_name))
        if experiment is None:
            continue  # nothing graded on this track yet
        tracking.publish_ranks(client, experiment.experiment_id, rank_rows(ranked))
        ui.install_view(client, experiment.experiment_id, reveal_private)
