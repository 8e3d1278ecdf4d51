"""The leaderboard over time, stored as changes: results/history/<track>.csv.

Each grade run appends a row for every submission whose version (folder hash), status or public
accuracy changed since the run before (`change`), one for every submission that is gone
(`removed`), then one summary row (`run`: its time, the leader, its accuracy, how many were
ranked, their median accuracy). So the file grows by the number of changes, not by the size of
the class, and reading it back (`load`) is one pass over its rows. Only the public score is
kept: the history is shown on the site while the private part is still hidden.

Ranks are not a reason for a row: one better model moves the rank of everyone it overtakes
(hundreds of ranks in a large class), which would make the file grow by the class size again.
What the site shows of ranks is each run's leader (in the summary row) and each version's
best rank: a row that ends a version (a new version, a removal) carries the best rank it reached,
and the best ranks of the current versions are kept in results/<track>/.history-state,
rewritten each run (one entry per current submission: it does not grow from run to run).

Files written by earlier versions held a full snapshot per run (one row per submission and run),
or changes without the median; `load` reads them, and the next grade run rewrites them once.
"""

from __future__ import annotations

import datetime
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from pipeline import atomic

HISTORY_DIR = "history"
STATE_FILE = ".history-state"  # JSON, in results/<track>/ (not *.json, which are the results)
CHANGE, REMOVED, RUN = "change", "removed", "run"  # the `row` column: what a row records
# A change row: the submission's state from this run on (`rank`: its rank at this run). A change
# row that starts a new version, and a removed row, carry in `best_rank` the best rank of the
# version they end. A run row: `submission`, `content_hash` and `public_accuracy` are the leader's
# (rank 1; empty when no one is ranked), `ranked` how many were ranked, `median_accuracy` the
# median public accuracy of those ranked (so that the site draws the class median from one row a run).
COLUMNS = ["time", "row", "submission", "content_hash", "status", "public_accuracy", "rank", "best_rank", "ranked",
           "median_accuracy"]
NO_MEDIAN_COLUMNS = COLUMNS[:-1]  # change files written before the median was kept
SNAPSHOT_COLUMNS = ["time", "submission", "content_hash", "public_accuracy", "rank"]  # the old format
# What makes a submission's row a change: any of these differs from its state in the run before.
COMPARED = ("content_hash", "status", "public_accuracy")
# What `load` returns. Points: per submission, a row where each state began and one at its last
# run, each standing for `runs` grade runs; `best_rank`: on a version's last point the best rank
# the version reached, on its other points the best it had reached when they began. Runs: one row
# per grade run, oldest first.
POINT_COLUMNS = ["time", "submission", "content_hash", "status", "public_accuracy", "rank", "best_rank", "runs"]
RUN_COLUMNS = ["time", "leader", "leader_accuracy", "ranked", "median_accuracy"]
MIGRATED_FAILURE = "failed"  # the status of an unscored row of an old-format file (it kept none)


@dataclass(frozen=True)
class History:
    """A track's history as the site draws it (`load`)."""

    points: pd.DataFrame  # POINT_COLUMNS, per submission in time order
    runs: pd.DataFrame    # RUN_COLUMNS


def history_path(results_root: Path, track_name: str) -> Path:
    return results_root / HISTORY_DIR / f"{track_name}.csv"


def state_path(results_root: Path, track_name: str) -> Path:
    return results_root / track_name / STATE_FILE


def _field(result, name: str):
    """A field of a result record (grading.record.Result) or of its JSON form (a dict)."""
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def _clean(value):
    """None for a missing value (NaN, pd.NA, None), the value otherwise, as plain Python."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _state(content_hash, status, accuracy, rank) -> tuple:
    """(content_hash, status, public_accuracy, a rank) with missing values as None."""
    rank, accuracy = _clean(rank), _clean(accuracy)
    return (None if _clean(content_hash) is None else str(content_hash), _clean(status) or "",
            None if accuracy is None else float(accuracy), None if rank is None else int(rank))


def _best(*ranks) -> Optional[int]:
    known = [rank for rank in ranks if rank is not None]
    return min(known) if known else None


def snapshot(ranked: pd.DataFrame, results: Iterable[dict]) -> dict[str, tuple]:
    """Each submission of the ranked table (failed ones too) -> (COMPARED..., its rank), in ranked order."""
    content_hashes = {_field(result, "submission"): _field(result, "content_hash") for result in results if result}
    statuses = ranked["status"] if "status" in ranked else pd.Series([None] * len(ranked))
    return {submission: _state(content_hashes.get(submission), state, accuracy, rank)
            for submission, state, accuracy, rank in zip(ranked["submission"], statuses, ranked["public_accuracy"],
                                                         ranked["rank"])}


def _change_rows(time: str, before: dict[str, tuple], now: dict[str, tuple]) -> list[dict]:
    """One grade run's rows. `before`: each submission's state after the run before (COMPARED...,
    the best rank of its version); `now`: this run's snapshot."""
    rows = []
    for submission, state in now.items():
        old = before.get(submission)
        if old is None or old[:3] != state[:3]:
            ends_version = old is not None and old[0] != state[0]
            rows.append({"time": time, "row": CHANGE, "submission": submission, "content_hash": state[0],
                         "status": state[1], "public_accuracy": state[2], "rank": state[3],
                         "best_rank": old[3] if ends_version else None})
    rows += [{"time": time, "row": REMOVED, "submission": submission, "best_rank": before[submission][3]}
             for submission in sorted(set(before) - set(now))]
    leader = next((submission for submission, state in now.items() if state[3] == 1), None)
    rows.append({"time": time, "row": RUN, "submission": leader,
                 "content_hash": now[leader][0] if leader else None,
                 "public_accuracy": now[leader][2] if leader else None, "rank": 1 if leader else None,
                 "ranked": sum(state[3] is not None for state in now.values()),
                 "median_accuracy": _median(state[2] for state in now.values() if state[3] is not None)})
    return rows


def _median(accuracies) -> Optional[float]:
    """The median of the ranked submissions' public accuracies (None: no one ranked)."""
    known = [accuracy for accuracy in accuracies if accuracy is not None]
    return float(statistics.median(known)) if known else None


def _next_state(before: dict[str, tuple], now: dict[str, tuple]) -> dict[str, tuple]:
    """Each submission's state after this run: COMPARED..., the best rank of its version so far."""
    after = {}
    for submission, state in now.items():
        old = before.get(submission)
        same_version = old is not None and old[0] == state[0]
        after[submission] = (*state[:3], _best(state[3], old[3] if same_version else None))
    return after


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("rank", "best_rank", "ranked"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _read(path: Path) -> tuple[pd.DataFrame, Optional[dict[str, tuple]], bool]:
    """The file in the change format; for an old snapshot file (converted in memory) the state
    after its last run; and whether the file is in an older format (to be rewritten once)."""
    if not path.is_file() or path.stat().st_size == 0:
        return _frame([]), None, False
    frame = pd.read_csv(path, dtype={"submission": str, "content_hash": str, "status": str, "row": str})
    if list(frame.columns) in (COLUMNS, NO_MEDIAN_COLUMNS):
        older = list(frame.columns) == NO_MEDIAN_COLUMNS
        if older:
            frame["median_accuracy"] = _replay(frame)[0]
        for column in ("rank", "best_rank", "ranked"):
            frame[column] = frame[column].astype("Int64")
        return frame, None, older
    if list(frame.columns) != SNAPSHOT_COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)} (or an older file's "
                         f"{','.join(SNAPSHOT_COLUMNS)}), found {','.join(map(str, frame.columns))}: "
                         f"move the file away and the next grade run starts a new history")
    return (*_from_snapshots(frame), True)


def _from_snapshots(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple]]:
    """An old file (every submission at every run) as changes, and the state after it. It kept no
    status: a scored row is ok, an unscored one MIGRATED_FAILURE (the next run records the actual
    failure, once)."""
    rows, before = [], {}
    for time, group in frame.groupby("time", sort=True):
        now = {submission: _state(content_hash, "ok" if _clean(accuracy) is not None else MIGRATED_FAILURE,
                                  accuracy, rank)
               for submission, content_hash, accuracy, rank in zip(group["submission"], group["content_hash"],
                                                                   group["public_accuracy"], group["rank"])}
        rows += _change_rows(str(time), before, now)
        before = _next_state(before, now)
    return _frame(rows), before


def _replay(frame: pd.DataFrame) -> tuple[list[Optional[float]], dict[str, tuple]]:
    """The file's rows walked once: each run row's median (of the submissions ranked at it; None on
    other rows: the column of a file written before it was kept) and the state after the last run
    (when the state file is missing or behind: best ranks then count only the ranks the rows hold)."""
    state: dict[str, tuple] = {}
    ranked: dict[str, float] = {}
    medians: list[Optional[float]] = []
    columns = (frame[name].tolist() for name in ("row", "submission", *COMPARED, "rank"))
    for row, submission, content_hash, status, accuracy, rank in zip(*columns):
        if row == RUN:
            medians.append(_median(ranked.values()))
            continue
        medians.append(None)
        ranked.pop(submission, None)
        if row == CHANGE:
            new, old = _state(content_hash, status, accuracy, rank), state.get(submission)
            same_version = old is not None and old[0] == new[0]
            state[submission] = (*new[:3], _best(new[3], old[3] if same_version else None))
            if new[3] is not None and new[2] is not None:
                ranked[submission] = float(new[2])
        elif row == REMOVED:
            state.pop(submission, None)
    return medians, state


def _saved_state(results_root: Path, track_name: str, frame: pd.DataFrame) -> Optional[dict[str, tuple]]:
    """The state file, if it was written after the file's last run (a run interrupted between the
    two writes leaves it behind: then None)."""
    path = state_path(results_root, track_name)
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("runs") != int((frame["row"] == RUN).sum()):
        return None
    return {submission: tuple(state) for submission, state in saved.get("submissions", {}).items()}


def record(results_root: Path, track_name: str, ranked: pd.DataFrame, results: Iterable[dict],
           when: Optional[datetime.datetime] = None) -> Path:
    """Append this grade run's changes and summary for one track; return the history file."""
    path = history_path(results_root, track_name)
    time = (when or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    existing, migrated, older = _read(path)
    before = migrated or _saved_state(results_root, track_name, existing) or _replay(existing)[1]
    now = snapshot(ranked, results)
    rows = _frame(_change_rows(time.isoformat(timespec="seconds"), before, now))
    path.parent.mkdir(parents=True, exist_ok=True)
    if older:
        # An older file (snapshots, or changes without the median): rewritten once in this format,
        # then appended to like any other.
        atomic.write_text(path, pd.concat([existing, rows], ignore_index=True).to_csv(index=False))
    else:
        rows.to_csv(path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False)
    state_path(results_root, track_name).parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(state_path(results_root, track_name), {
        "runs": int((existing["row"] == RUN).sum()) + 1, "submissions": _next_state(before, now)})
    return path


def load(results_root: Path, track_name: str) -> History:
    """The track's history as points and runs (empty, with the columns, before its first grade run),
    in one pass over the file's rows."""
    frame, migrated, _ = _read(history_path(results_root, track_name))
    final = migrated or _saved_state(results_root, track_name, frame) or {}
    run_times: list[str] = []
    runs: list[dict] = []
    points: list[dict] = []
    current: dict[str, dict] = {}  # submission -> its open point (the state it is in)
    start: dict[int, int] = {}     # id(point) -> the run its state began at

    def close(point: dict, end_run: int, version_best: Optional[int] = None) -> None:
        """The state of `point` held from its start up to run `end_run` (exclusive): it stands for
        those runs, with a second point at its last run if that is a later one. `version_best`:
        the best rank of its version, when this ends the version."""
        if version_best is not None:
            point["best_rank"] = version_best
        first, last = start[id(point)], end_run - 1
        point["runs"] = max(1, last - first)
        if last > first:
            points.append({**point, "time": run_times[last], "runs": 1})

    columns = (frame[name].tolist() for name in COLUMNS)
    for time, row, submission, content_hash, status, accuracy, rank, best_rank, ranked, median in zip(*columns):
        if row == RUN:
            run_times.append(str(time))
            runs.append({"time": str(time), "leader": _clean(submission), "leader_accuracy": _clean(accuracy),
                         "ranked": int(_clean(ranked) or 0), "median_accuracy": _clean(median)})
            continue
        previous = current.pop(submission, None)
        state = _state(content_hash, status, accuracy, rank)
        same_version = previous is not None and row == CHANGE and previous["content_hash"] == state[0]
        if previous is not None:
            close(previous, len(run_times), None if same_version else _clean(best_rank))
        if row == CHANGE:
            point = {"time": str(time), "submission": submission, "content_hash": state[0], "status": state[1],
                     "public_accuracy": state[2], "rank": state[3],
                     "best_rank": _best(state[3], previous["best_rank"] if same_version else None), "runs": 0}
            start[id(point)] = len(run_times)  # the run this row belongs to (its summary comes after it)
            points.append(point)
            current[submission] = point
    for submission, point in current.items():
        close(point, len(run_times), final[submission][3] if submission in final else None)
    points_frame = pd.DataFrame(points, columns=POINT_COLUMNS)
    points_frame = points_frame.sort_values(["submission", "time"], kind="stable", ignore_index=True)
    points_frame["public_accuracy"] = points_frame["public_accuracy"].astype(float)
    for column in ("rank", "best_rank"):
        points_frame[column] = points_frame[column].astype("Int64")
    points_frame["runs"] = points_frame["runs"].astype(int)
    runs_frame = pd.DataFrame(runs, columns=RUN_COLUMNS)
    for column in ("leader_accuracy", "median_accuracy"):
        runs_frame[column] = runs_frame[column].astype(float)
    return History(points_frame, runs_frame)


def versions_by_submission(past: History) -> dict[str, list[dict]]:
    """Each submission's versions (by folder hash), newest first: when first graded, in how many grade
    runs, the latest public accuracy and the best rank it reached (exact: see the module doc), in
    one pass over the points."""
    found: dict[str, dict[str, dict]] = {}
    columns = (past.points[name].tolist() for name in ("submission", "content_hash", "time", "public_accuracy",
                                                        "best_rank", "runs"))
    for submission, content_hash, time, accuracy, best_rank, runs in zip(*columns):
        version = found.setdefault(submission, {}).setdefault(str(content_hash), {
            "content_hash": str(content_hash), "hash": str(content_hash)[:12], "first_seen": str(time), "runs": 0,
            "best_rank": None})
        version["first_seen"] = min(version["first_seen"], str(time))
        version["runs"] += runs
        version["public_accuracy"] = _clean(accuracy)  # the latest point's
        version["best_rank"] = _best(version["best_rank"], _clean(best_rank))
    return {submission: sorted(versions.values(), key=lambda version: version["first_seen"], reverse=True)
            for submission, versions in found.items()}
