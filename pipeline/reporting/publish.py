"""Publishing a track's grading to MLflow: one run per result as it arrives, then the ranks.

`MlflowPublisher` opens the store in the background: importing MLflow and opening the store take
seconds (bench/: most of what grading one submission cost beyond training), so the grade command
starts it only once the first training is under way, when the sandboxes' own imports are done:
any earlier, it slowed their TensorFlow imports from 1.8 s to 2.9 s on 2 cores (lowering the
thread's priority does not help: each sandbox runs in its own session, and with the kernel's
autogroup scheduling sessions share the CPU equally whatever a thread's nice value). Ranks and flags go onto the runs after the track is graded,
where the store is already open, so the runs are current after a plain `grade` too.

Publishing ranks touches only the runs whose rank or flags changed, found by id from
`RankRecord` (results/<track>/.mlflow-ranks: the run ids and rows last published to which store):
searching every current run cost 0.7 s at 300 students and grew with the class. Without a valid
record (first run, another store, a recorded run gone or superseded) it searches them all, as before.
"""

from __future__ import annotations

import functools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from pipeline.reporting.store_uri import sqlite_path

if TYPE_CHECKING:  # pandas is imported by MLflow on the background thread, while the first model
    import pandas as pd  # trains: importing it here cost 0.3 s before any sandbox could start


def local_artifact_root(uri: str) -> Optional[Path]:
    """Artifacts of a local sqlite store go to mlruns/ beside it; a server keeps its own."""
    return Path("mlruns") if uri.startswith("sqlite") else None


RECORD_FILE = ".mlflow-ranks"  # in results/<track>/; not *.json, which are the results


class RankRecord:
    """What the last `grade` published to the store: each submission's current run id and the
    rank row put on it. Valid only for the same store and experiment (by its creation time)."""

    def __init__(self, path: Path, store: dict):
        self.path, self.store = path, store
        self.run_ids: dict[str, Optional[str]] = {}
        self.rows: dict[str, dict] = {}
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return  # none yet, or unreadable: everything is searched and published once
        if isinstance(saved, dict) and saved.get("store") == store:
            self.run_ids, self.rows = saved.get("run_ids") or {}, saved.get("rows") or {}

    def save(self) -> None:
        from pipeline import atomic

        atomic.write_text(self.path, json.dumps({"store": self.store, "run_ids": self.run_ids, "rows": self.rows}))


def _as_saved(row: dict) -> dict:
    return json.loads(json.dumps(row))  # as it reads back from the record (tuples, numpy numbers)


def publish_track_ranks(client, experiment_id: str, rows: list[dict], record: RankRecord,
                        logged: dict[str, str]) -> int:
    """Put ranks and flags on the current runs whose rows changed since `record` (`logged`: runs
    created by this grade run, by submission); returns how many runs were written."""
    from pipeline.reporting import tracking

    run_ids = {**record.run_ids, **logged}  # None: had no current run at the last full search
    changed = [row for row in rows if row["submission"] in logged or record.rows.get(row["submission"]) != _as_saved(row)]
    runs = None
    if all(row["submission"] in run_ids for row in changed):
        wanted = {run_ids[row["submission"]]: row["submission"] for row in changed if run_ids[row["submission"]]}
        found = tracking.runs_by_id(client, experiment_id, sorted(wanted))
        if len(found) == len(wanted) and all(run.data.tags.get("current") == "true"
                                             and run.data.tags.get("submission") == wanted[run.info.run_id]
                                             for run in found):
            runs = found
    if runs is None:  # no record, or it is out of date: every current run, once
        runs = tracking.current_runs(client, experiment_id)
        run_ids = {run.data.tags.get("submission"): run.info.run_id for run in runs}
        changed = rows
    updated = tracking.publish_ranks(client, experiment_id, changed, runs=runs)
    record.run_ids = {row["submission"]: run_ids.get(row["submission"]) for row in rows}
    record.rows = {row["submission"]: _as_saved(row) for row in rows}
    record.save()
    return updated


class MlflowPublisher:
    """Logs one track's results to MLflow from a background thread started on first use."""

    def __init__(self, tracking_uri: str, track_name: str, dataset_name: str, submissions_dir: Path,
                 results_dir: Path):
        self.tracking_uri, self.track_name = tracking_uri, track_name
        self.dataset_name, self.submissions_dir, self.results_dir = dataset_name, submissions_dir, results_dir
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")
        self._logged: dict[str, str] = {}  # submission -> the run this grade run created

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
        self._logged[result.submission] = self._logger.result().log(result, log_tail, results_dir)

    def publish_ranks(self, ranked: pd.DataFrame, reveal_private: bool) -> None:
        # MLflow must be imported by the background thread alone: this thread importing it too while
        # that one is half way (a run with nothing to grade gets here at once) fails with a
        # circular-import error inside MLflow. So: wait for the store first, import after.
        logger = self._logger.result()
        from pipeline.reporting import ui
        experiment = logger.client.get_experiment(logger.experiment_id)
        store = {"uri": self.tracking_uri, "experiment_id": experiment.experiment_id,
                 "created": experiment.creation_time}
        record = RankRecord(self.results_dir / RECORD_FILE, store)
        publish_track_ranks(logger.client, logger.experiment_id, rank_rows(ranked), record, self._logged)
        ui.install_view(logger.client, logger.experiment_id, reveal_private)

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
