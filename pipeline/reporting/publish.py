"""Publishing a track's grading to MLflow: one run per result as it arrives, then the ranks.

`MlflowPublisher` opens the store in the background: importing MLflow and opening the store take
seconds, most of what grading one submission costs beyond training. The grade command starts it
once the first training is under way, when the sandboxes' own imports are done, because it
competes with those imports for the CPU (and a lower thread priority does not help: each sandbox
runs in its own session, and with the kernel's autogroup scheduling sessions share the CPU
equally whatever a thread's nice value). When the trainings leave a core free (one
resubmission: orchestrate.spare_core) it starts at once, so a short training does not end
before the store is open. Ranks and flags go onto the runs after the track is
graded, where the store is already open, so the runs are current after a plain `grade` too.

Publishing ranks touches only the runs whose order key (rank_publish.py) or flags changed, by id
from `RankRecord` (results/<track>/.mlflow-ranks: the run ids and rows last published to which
store), writing only what differs from the recorded row: searching every current run grows with
the class, and so would fetching the changed runs to compare. The record is true only while no new run
has been logged since: `grade` takes it off the disk before logging its first run and writes it
again after publishing, so a grade killed in between leaves none. Without a valid record (first
run, another store, an older record format, a recorded run deleted in the UI) every current run
is searched once.
"""

from __future__ import annotations

import functools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from pipeline.reporting.store_uri import sqlite_path

if TYPE_CHECKING:  # pandas is imported by MLflow on the background thread, while the first model
    import pandas as pd  # trains: importing it here would delay the start of the first sandbox


def local_artifact_root(uri: str, mlruns: Path) -> Optional[Path]:
    """Artifacts of a local sqlite store go to `mlruns` (Paths.mlruns); a server keeps its own."""
    return mlruns if uri.startswith("sqlite") else None


RECORD_FILE = ".mlflow-ranks"  # in results/<track>/; not *.json, which are the results
# Format 4: rows carry their order key (leaderboard_order.py) and their `duplicate` flag; a record
# in an older format leads to one full pass, which also removes the `rank` and `duplicate_of` tags.
RECORD_FORMAT = 4


def read_saved_record(path: Path) -> Optional[dict]:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # none yet, or unreadable: everything is searched and published once
    return saved if isinstance(saved, dict) else None


def take_saved_record(path: Path) -> Optional[dict]:
    """Read the record and remove it from the disk: once a new run is logged it no longer names
    every current run, so a grade killed before it writes the record again must leave none."""
    saved = read_saved_record(path)
    path.unlink(missing_ok=True)
    return saved


class RankRecord:
    """What the last `grade` published to the store: each submission's current run id and the
    rank row put on it. Valid only for the same store and experiment (by its creation time).
    `saved`: the record as taken off the disk earlier (take_saved_record); otherwise it is read from
    `path` (where, once taken, there is none)."""

    def __init__(self, path: Path, store: dict, saved: Optional[dict] = None):
        self.path, self.store = path, store
        self.run_ids: dict[str, Optional[str]] = {}
        self.rows: dict[str, dict] = {}
        saved = saved if saved is not None else read_saved_record(path)
        if saved and saved.get("store") == store and saved.get("format") == RECORD_FORMAT:
            self.run_ids, self.rows = saved.get("run_ids") or {}, saved.get("rows") or {}

    def save(self) -> None:
        from pipeline import atomic

        atomic.write_text(self.path, json.dumps({"format": RECORD_FORMAT, "store": self.store,
                                                 "run_ids": self.run_ids, "rows": self.rows}))


def _as_saved(row: dict) -> dict:
    return json.loads(json.dumps(row))  # as it reads back from the record (tuples, numpy numbers)


def _published(row: Optional[dict]) -> Optional[tuple]:
    """What a row puts on its run (rank_publish.write_rank_row): its tags and its order key."""
    from pipeline.reporting.rank_publish import rank_row_tags

    return None if row is None else (rank_row_tags(row), row.get("order"))


def _write_from_record(client, changed: list[dict], run_ids: dict, record: RankRecord, logged: dict) -> Optional[int]:
    """Write each changed row onto its recorded run, against the row recorded for it (a run logged
    by this grade holds none yet); None when the record cannot say where a row goes."""
    from mlflow.exceptions import MlflowException

    from pipeline.reporting.rank_publish import rank_row_tags, write_rank_rows

    if not all(run_ids.get(row["submission"]) for row in changed):
        return None  # a row without a known current run
    writes = []
    for row in changed:
        held = {} if row["submission"] in logged else record.rows.get(row["submission"]) or {}
        writes.append((run_ids[row["submission"]], row, rank_row_tags(held) if held else {}, held.get("order")))
    try:
        return write_rank_rows(client, writes)
    except MlflowException:
        return None  # a run was deleted (in the UI) or is otherwise gone


def publish_track_ranks(client, experiment_id: str, rows: list[dict], record: RankRecord,
                        logged: dict[str, str]) -> int:
    """Put ranks and flags on the current runs whose rows changed since `record` (`logged`: runs
    created by this grade run, by submission); returns how many runs were written."""
    from pipeline.reporting import rank_publish
    from pipeline.reporting.run_search import current_runs

    run_ids = {**record.run_ids, **logged}  # None: had no current run at the last full search
    # Keys by submission: a re-graded one keeps its key if it still sorts there (its new run is
    # written all the same, holding nothing yet).
    rank_publish.assign_order(rows, {name: row.get("order") for name, row in record.rows.items()})
    # Only what goes onto a run counts: a rank number that moved while the key stayed writes nothing.
    changed = [row for row in rows if row["submission"] in logged
               or _published(record.rows.get(row["submission"])) != _published(_as_saved(row))]
    updated = _write_from_record(client, changed, run_ids, record, logged) if record.rows else None
    if updated is None:  # no record, or it is out of date: every current run, once
        runs = current_runs(client, experiment_id)
        run_ids = {run.data.tags.get("submission"): run.info.run_id for run in runs}
        updated = rank_publish.publish_ranks(client, experiment_id, rows, runs=runs)
    record.run_ids = {row["submission"]: run_ids.get(row["submission"]) for row in rows}
    record.rows = {row["submission"]: _as_saved(row) for row in rows}
    record.save()
    return updated


class MlflowPublisher:
    """Logs one track's results to MLflow from a background thread started on first use."""

    def __init__(self, tracking_uri: str, track_name: str, dataset_name: str, submissions_dir: Path,
                 results_dir: Path, *, dvc_lock: Path, artifact_root: Optional[Path], warm_up_plots: bool = True):
        """`results_dir`: the track's results/<track>/ (where the rank record is kept); `dvc_lock` and
        `artifact_root` (local_artifact_root): from the command's Paths. `warm_up_plots`: the plots
        are drawn in this process (not in a worker), so matplotlib is warmed up with the store."""
        self.tracking_uri, self.track_name = tracking_uri, track_name
        self.dataset_name, self.submissions_dir, self.results_dir = dataset_name, submissions_dir, results_dir
        self.dvc_lock, self.artifact_root, self.warm_up_plots = dvc_lock, artifact_root, warm_up_plots
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")
        self._logged: dict[str, str] = {}  # submission -> the run this grade run created
        self._taken_record: Optional[dict] = None  # the rank record, taken off the disk at the first log

    def _open(self):
        from pipeline.reporting import feedback, tracking
        if self.warm_up_plots:
            feedback.warm_up()  # matplotlib's first figure, for the first result's plots
        return tracking.TrackLogger(self.tracking_uri, self.track_name, self.artifact_root,
                                    submissions_dir=self.submissions_dir, dataset_name=self.dataset_name,
                                    dvc_lock=self.dvc_lock)

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

    def log(self, result, log_tail: str, feedback_dir: Path) -> None:
        logger = self._logger.result()
        # From the first new run on, the record on disk no longer names every current run.
        if not self._logged and self._taken_record is None:
            self._taken_record = take_saved_record(self.results_dir / RECORD_FILE)
        self._logged[result.submission] = logger.log(result, log_tail, feedback_dir)

    def publish_ranks(self, ranked: pd.DataFrame, reveal_private: bool) -> int:
        """Order keys and flags onto the current runs; returns how many runs were written."""
        # MLflow must be imported by the background thread alone: this thread importing it too while
        # that one is half way (a run with nothing to grade gets here at once) fails with a
        # circular-import error inside MLflow. So: wait for the store first, import after.
        logger = self._logger.result()
        from pipeline.reporting import ui
        experiment = logger.client.get_experiment(logger.experiment_id)
        store = {"uri": self.tracking_uri, "experiment_id": experiment.experiment_id,
                 "created": experiment.creation_time}
        record = RankRecord(self.results_dir / RECORD_FILE, store, self._taken_record)
        written = publish_track_ranks(logger.client, logger.experiment_id, rank_rows(ranked), record, self._logged)
        ui.install_view(logger.client, logger.experiment_id, reveal_private)
        return written

    def close(self) -> None:
        self._background.shutdown(wait=True)


def rank_rows(ranked: pd.DataFrame) -> list[dict]:
    """submission, rank (None for failed), pareto, duplicate and hand-in tags of each ranked row."""
    from pipeline.reporting.run_fields import duplicate_kinds, handin_tags

    kinds = duplicate_kinds(ranked)
    rows = []
    for position, row in enumerate(ranked.astype(object).where(ranked.notna(), None).itertuples()):
        rank = None if row.rank is None or row.rank != row.rank else int(row.rank)
        rows.append({"submission": row.submission, "rank": rank, "pareto": bool(row.pareto),
                     "pareto_compute": bool(getattr(row, "pareto_compute", False)),
                     "duplicate": kinds[position],
                     "handin_tags": handin_tags(row.late, row.late_days, row.penalty, row.handin_source,
                                                row.handin_commit, row.handin_lms_file)})
    return rows


def publish_ranks(client, ranked_tables: dict[str, pd.DataFrame], reveal_private: bool) -> None:
    """Put ranks and flags on the current runs and (re)install each track's leaderboard view."""
    from pipeline.reporting import rank_publish, ui
    from pipeline.reporting.tracking_store import experiment_name

    for track_name, ranked in ranked_tables.items():
        experiment = client.get_experiment_by_name(experiment_name(track_name))
        if experiment is None:
            continue  # nothing graded on this track yet
        rank_publish.publish_ranks(client, experiment.experiment_id, rank_rows(ranked))
        ui.install_view(client, experiment.experiment_id, reveal_private)
