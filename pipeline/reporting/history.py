"""The leaderboard over time: each grade run appends a snapshot of its track to results/history/<track>.csv.

One row per current submission and grade run: when, which submission, the hash of its folder
(so a student's earlier versions can be told apart), its public accuracy and its rank. Only the
public score is kept: the history is shown on the site while the private part is still hidden.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

HISTORY_DIR = "history"
COLUMNS = ["time", "submission", "content_hash", "public_accuracy", "rank"]


def history_path(results_root: Path, track_name: str) -> Path:
    return results_root / HISTORY_DIR / f"{track_name}.csv"


def snapshot(ranked: pd.DataFrame, results: Iterable[dict], when: datetime.datetime) -> pd.DataFrame:
    """The rows one grade run adds: every submission of the ranked table (failed ones too, with
    no accuracy or rank), its content hash taken from its result record (a Result or a dict)."""
    content_hashes = {_field(result, "submission"): _field(result, "content_hash") for result in results if result}
    rows = pd.DataFrame({
        "time": when.astimezone(datetime.timezone.utc).isoformat(timespec="seconds"),
        "submission": ranked["submission"].to_numpy(),
        "content_hash": ranked["submission"].map(content_hashes).to_numpy(),
        "public_accuracy": ranked["public_accuracy"].to_numpy(),
        "rank": ranked["rank"].astype("Int64").to_numpy(),
    }, columns=COLUMNS)
    return rows


def _field(result, name: str):
    """A field of a result record (grading.record.Result) or of its JSON form (a dict)."""
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def append(path: Path, rows: pd.DataFrame) -> None:
    """Append a snapshot to the track's history file (created with its header the first time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows[COLUMNS].to_csv(path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False)


def record(results_root: Path, track_name: str, ranked: pd.DataFrame, results: Iterable[dict],
           when: Optional[datetime.datetime] = None) -> Path:
    """Append this grade run's snapshot of one track; return the history file."""
    path = history_path(results_root, track_name)
    append(path, snapshot(ranked, results, when or datetime.datetime.now(datetime.timezone.utc)))
    return path


def load(results_root: Path, track_name: str) -> pd.DataFrame:
    """The track's history (empty, with the columns, before its first grade run)."""
    path = history_path(results_root, track_name)
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, dtype={"submission": str, "content_hash": str})
    frame["rank"] = frame["rank"].astype("Int64")
    return frame
