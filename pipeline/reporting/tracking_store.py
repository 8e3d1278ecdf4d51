"""Opening an MLflow store: the client, a new sqlite store made all at once, write-ahead logging, experiments."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Optional

import psutil
from mlflow.tracking import MlflowClient

from pipeline.reporting.store_uri import sqlite_path

CREATING_SUFFIX = ".creating-"


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
