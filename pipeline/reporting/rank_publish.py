"""Putting the leaderboard onto MLflow runs: the rank metric and the Pareto, duplicate and hand-in tags."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Optional

from mlflow.entities import Metric, RunTag

from pipeline.reporting.run_fields import flag
from pipeline.reporting.run_search import current_runs
from pipeline.reporting.store_uri import is_server

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RANK_METRIC = "rank"
# Runs published before the rank was a metric alone also carry it as a tag, which would go stale.
LEGACY_RANK_TAG = "rank"
# Writes in flight at once to a tracking server: each is a network round trip the server can
# answer beside others. A local sqlite store takes one writer at a time, so it is written in turn.
SERVER_WRITERS = 8


def rank_row_tags(row: dict) -> dict[str, str]:
    """The tags a leaderboard row puts on its run: Pareto and duplicate flags, hand-in facts."""
    # Lateness can change without a re-grade (a new deadline or policy): kept current here too.
    return {"pareto": flag(row.get("pareto")), "pareto_compute": flag(row.get("pareto_compute")),
            "duplicate_of": row.get("duplicate_of") or "",
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


def write_rank_rows(client: MlflowClient, writes: list[tuple[str, dict, dict, Optional[float]]]) -> int:
    """write_rank_row for each (run_id, row, held_tags, held_rank); returns how many runs were
    written. The first failure is raised (as from a loop), after the writes in flight finish."""
    def write(job) -> bool:
        return write_rank_row(client, *job)

    if len(writes) > 1 and is_server(str(client.tracking_uri)):
        with ThreadPoolExecutor(SERVER_WRITERS) as pool:
            return sum(pool.map(write, writes))
    return sum(write(job) for job in writes)


def publish_ranks(client: MlflowClient, experiment_id: str, rows: list[dict], runs: Optional[list] = None) -> int:
    """Put the leaderboard's rank, Pareto and duplicate flags on each current run (reading what each
    holds, so only differences are written); return how many runs changed.

    rows: dicts with submission, rank (None for failed), pareto, duplicate_of and optionally
    handin_tags (run_fields.handin_tags). A one-column sort
    by `rank` in `mlflow ui` then reproduces the leaderboard with all of its tie-breaks.
    runs: the current runs to update, if the caller has them; otherwise every current run is searched.
    """
    by_submission = {row["submission"]: row for row in rows}
    writes = []
    for run in current_runs(client, experiment_id) if runs is None else runs:
        row = by_submission.get(run.data.tags.get("submission"))
        if row is None:
            continue
        if LEGACY_RANK_TAG in run.data.tags:
            client.delete_tag(run.info.run_id, LEGACY_RANK_TAG)
        writes.append((run.info.run_id, row, run.data.tags, run.data.metrics.get(RANK_METRIC)))
    return write_rank_rows(client, writes)
