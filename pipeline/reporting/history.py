"""The leaderboard over time, stored as changes: results/history/<track>.csv.

Each grade run appends a row for every submission whose version (folder hash), status or public
accuracy changed since the run before, or whose rank is the best its version has had (`change`),
one for every submission that is gone (`removed`), then one summary row (`run`: its time, the
leader, its accuracy, how many were ranked). So the file grows by the number of changes, not by
the size of the class, and reading it back (`load`) is one pass over its rows. Only the public
score is kept: the history is shown on the site while the private part is still hidden.

Why not a row per rank change: one better model moves the rank of everyone it overtakes (212 to
907 ranks per change at 1,000 students), which would make the file grow by the class size again.
The site shows per submission only each version's best rank (and per run the leader, which the
summary row holds), and a rank that beats its version's best is written, so both read back exactly.

Files written by earlier versions held a full snapshot per run (one row per submission and run);
`load` reads them, and the next grade run rewrites them as changes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from pipeline import atomic

HISTORY_DIR = "history"
CHANGE, REMOVED, RUN = "change", "removed", "run"  # the `row` column: what a row records
# A change row: the submission's state from this run on. A run row: `submission`, `content_hash`
# and `public_accuracy` are the leader's (rank 1; empty when no one is ranked), `ranked` the count.
COLUMNS = ["time", "row", "submission", "content_hash", "status", "public_accuracy", "rank", "ranked"]
SNAPSHOT_COLUMNS = ["time", "submission", "content_hash", "public_accuracy", "rank"]  # the old format
# What makes a submission's row a change: any of these differs from its state in the run before
# (or its rank beats the best its version has had).
COMPARED = ("content_hash", "status", "public_accuracy")
# What `load` returns. Points: per submission, a row where its state began and one at its last
# run, each standing for `runs` grade runs. Runs: one row per grade run, oldest first.
POINT_COLUMNS = ["time", "submission", "content_hash", "status", "public_accuracy", "rank", "runs"]
RUN_COLUMNS = ["time", "leader", "leader_accuracy", "ranked"]
MIGRATED_FAILURE = "failed"  # the status of an unscored row of an old-format file (it kept none)


@dataclass(frozen=True)
class History:
    """A track's history as the site draws it (`load`)."""

    points: pd.DataFrame  # POINT_COLUMNS, per submission in time order
    runs: pd.DataFrame    # RUN_COLUMNS


def history_path(results_root: Path, track_name: str) -> Path:
    return results_root / HISTORY_DIR / f"{track_name}.csv"


def _field(result, name: str):
    """A field of a result record (grading.record.Result) or of its JSON form (a dict)."""
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def _clean(value):
    """None for a missing value (NaN, pd.NA, None), the value otherwise, as plain Python."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _state(content_hash, status, accuracy, rank) -> tuple:
    rank = _clean(rank)
    accuracy = _clean(accuracy)
    return (None if _clean(content_hash) is None else str(content_hash), _clean(status) or "",
            None if accuracy is None else float(accuracy), None if rank is None else int(rank))


def snapshot(ranked: pd.DataFrame, results: Iterable[dict]) -> dict[str, tuple]:
    """Each submission of the ranked table (failed ones too) -> its state (COMPARED, then its
    rank), in ranked order."""
    content_hashes = {_field(result, "submission"): _field(result, "content_hash") for result in results if result}
    statuses = ranked["status"] if "status" in ranked else pd.Series([None] * len(ranked))
    return {submission: _state(content_hashes.get(submission), state, accuracy, rank)
            for submission, state, accuracy, rank in zip(ranked["submission"], statuses, ranked["public_accuracy"],
                                                         ranked["rank"])}


def _change_rows(time: str, before: dict[str, tuple], now: dict[str, tuple]) -> list[dict]:
    """One grade run's rows: the changes against `before` (latest_state), the removals, then the
    run's summary."""
    rows = [{"time": time, "row": CHANGE, "submission": submission, "content_hash": state[0], "status": state[1],
             "public_accuracy": state[2], "rank": state[3]}
            for submission, state in now.items() if _changed(before.get(submission), state)]
    rows += [{"time": time, "row": REMOVED, "submission": submission}
             for submission in sorted(set(before) - set(now))]
    leader = next((submission for submission, state in now.items() if state[3] == 1), None)
    rows.append({"time": time, "row": RUN, "submission": leader,
                 "content_hash": now[leader][0] if leader else None,
                 "public_accuracy": now[leader][2] if leader else None, "rank": 1 if leader else None,
                 "ranked": sum(state[3] is not None for state in now.values())})
    return rows


def _changed(before: Optional[tuple], now: tuple) -> bool:
    """`before`: (COMPARED..., the best rank of its version); `now`: (COMPARED..., its rank)."""
    if before is None or before[:3] != now[:3]:
        return True
    return now[3] is not None and (before[3] is None or now[3] < before[3])


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["ranked"] = frame["ranked"].astype("Int64")
    return frame


def _read(path: Path) -> pd.DataFrame:
    """The file as it is, in the change format (an old snapshot file is converted, in memory)."""
    if not path.is_file() or path.stat().st_size == 0:
        return _frame([])
    frame = pd.read_csv(path, dtype={"submission": str, "content_hash": str, "status": str, "row": str})
    if "row" in frame.columns:
        frame["rank"] = frame["rank"].astype("Int64")
        frame["ranked"] = frame["ranked"].astype("Int64")
        return frame
    if list(frame.columns) != SNAPSHOT_COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)} (or an older file's "
                         f"{','.join(SNAPSHOT_COLUMNS)}), found {','.join(map(str, frame.columns))}: "
                         f"move the file away and the next grade run starts a new history")
    return _from_snapshots(frame)


def _from_snapshots(frame: pd.DataFrame) -> pd.DataFrame:
    """An old file (every submission at every run) as changes. It kept no status: a scored row is
    ok, an unscored one MIGRATED_FAILURE (the next run then records the actual failure, once)."""
    rows, before = [], {}
    for time, group in frame.groupby("time", sort=True):
        now = {submission: _state(content_hash, "ok" if _clean(accuracy) is not None else MIGRATED_FAILURE,
                                  accuracy, rank)
               for submission, content_hash, accuracy, rank in zip(group["submission"], group["content_hash"],
                                                                   group["public_accuracy"], group["rank"])}
        rows += _change_rows(str(time), before, now)
        before = now
    return _frame(rows)


def latest_state(frame: pd.DataFrame) -> dict[str, tuple]:
    """Each current submission's state after the last run in the file (COMPARED, then the best rank
    of its version), in one pass over the changes."""
    state: dict[str, tuple] = {}
    columns = (frame[name].tolist() for name in ("row", "submission", *COMPARED, "rank"))
    for row, submission, content_hash, status, accuracy, rank in zip(*columns):
        if row == CHANGE:
            new = _state(content_hash, status, accuracy, rank)
            old = state.get(submission)
            if old is not None and old[0] == new[0] and old[3] is not None:
                new = (*new[:3], old[3] if new[3] is None else min(old[3], new[3]))
            state[submission] = new
        elif row == REMOVED:
            state.pop(submission, None)
    return state


def record(results_root: Path, track_name: str, ranked: pd.DataFrame, results: Iterable[dict],
           when: Optional[datetime.datetime] = None) -> Path:
    """Append this grade run's changes and summary for one track; return the history file."""
    path = history_path(results_root, track_name)
    time = (when or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    existing = _read(path)
    rows = _frame(_change_rows(time.isoformat(timespec="seconds"), latest_state(existing), snapshot(ranked, results)))
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(existing) and not _is_change_file(path):
        # An old snapshot file: rewritten once as changes, then appended to like any other.
        atomic.write_text(path, pd.concat([existing, rows], ignore_index=True).to_csv(index=False))
    else:
        rows.to_csv(path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False)
    return path


def _is_change_file(path: Path) -> bool:
    with open(path) as handle:
        return handle.readline().strip().split(",") == COLUMNS


def load(results_root: Path, track_name: str) -> History:
    """The track's history as points and runs (empty, with the columns, before its first grade run),
    in one pass over the file's rows."""
    frame = _read(history_path(results_root, track_name))
    run_times: list[str] = []
    runs: list[dict] = []
    points: list[dict] = []
    current: dict[str, dict] = {}  # submission -> its open point (the state it is in)
    start: dict[int, int] = {}     # id(point) -> the run its state began at

    def close(point: dict, end_run: int) -> None:
        """The state of `point` held from its start up to run `end_run` (exclusive): it stands for
        those runs, with a second point at its last run if that is a later one."""
        first, last = start[id(point)], end_run - 1
        if last > first:
            point["runs"] = last - first
            points.append({**point, "time": run_times[last], "runs": 1})
        else:
            point["runs"] = 1

    columns = (frame[name].tolist() for name in COLUMNS)
    for time, row, submission, content_hash, status, accuracy, rank, ranked in zip(*columns):
        if row == RUN:
            run_times.append(str(time))
            runs.append({"time": str(time), "leader": _clean(submission), "leader_accuracy": _clean(accuracy),
                         "ranked": int(_clean(ranked) or 0)})
            continue
        previous = current.pop(submission, None)
        if previous is not None:
            close(previous, len(run_times))
        if row == CHANGE:
            state = _state(content_hash, status, accuracy, rank)
            point = {"time": str(time), "submission": submission, "content_hash": state[0], "status": state[1],
                     "public_accuracy": state[2], "rank": state[3], "runs": 0}
            start[id(point)] = len(run_times)  # the run this row belongs to (its summary comes after it)
            points.append(point)
            current[submission] = point
    for point in current.values():
        close(point, len(run_times))
    points_frame = pd.DataFrame(points, columns=POINT_COLUMNS)
    points_frame = points_frame.sort_values(["submission", "time"], kind="stable", ignore_index=True)
    points_frame["public_accuracy"] = points_frame["public_accuracy"].astype(float)
    points_frame["rank"] = points_frame["rank"].astype("Int64")
    points_frame["runs"] = points_frame["runs"].astype(int)
    runs_frame = pd.DataFrame(runs, columns=RUN_COLUMNS)
    runs_frame["leader_accuracy"] = runs_frame["leader_accuracy"].astype(float)
    return History(points_frame, runs_frame)
