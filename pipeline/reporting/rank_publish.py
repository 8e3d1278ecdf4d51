"""Putting the leaderboard onto MLflow runs: the order metric and the Pareto, duplicate and hand-in tags."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Optional

from mlflow.entities import Metric, RunTag

from pipeline.reporting.leaderboard_order import order_keys
from pipeline.reporting.run_fields import flag
from pipeline.reporting.run_search import current_runs
from pipeline.reporting.store_uri import is_server

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# The leaderboard's sort key (leaderboard_order.py): sorting by it ascending gives the rank order
# with all its tie-breaks. The rank number itself is on the leaderboard and the site: on the runs
# it would cost a write on every run whose rank shifts, hundreds per change in a large class.
ORDER_METRIC = "leaderboard_order"
# Runs published before the order key carry the rank as a tag (oldest) or as a `rank` metric: the
# tag is removed by a full pass; MLflow cannot remove a metric, so the view leaves that one out.
# Runs published before the `duplicate` flag carry `duplicate_of`, the list of their twins: a list
# changes on every twin whenever one joins or leaves (a class's unchanged starter code is dozens of
# runs rewritten per resubmission), and a stale one would mislead, so a full pass removes it.
LEGACY_TAGS = ("rank", "duplicate_of")
# Writes in flight at once to a tracking server: each is a network round trip the server can
# answer beside others. A local sqlite store takes one writer at a time, so it is written in turn.
SERVER_WRITERS = 8


def rank_row_tags(row: dict) -> dict[str, str]:
    """The tags a leaderboard row puts on its run: Pareto and duplicate flags, hand-in facts."""
    # Lateness can change without a re-grade (a new deadline or policy): kept current here too.
    return {"pareto": flag(row.get("pareto")), "pareto_compute": flag(row.get("pareto_compute")),
            "duplicate": row.get("duplicate") or "",
            **(row.get("handin_tags") or {})}


def assign_order(rows: list[dict], held: dict[str, Optional[float]]) -> None:
    """Set each row's "order": its sort key (None for a row without a rank), keeping the held keys
    (`held`: by submission, what the runs carry) that still sort in the rows' rank order."""
    ranked = sorted((row for row in rows if row.get("rank") is not None), key=lambda row: row["rank"])
    keys = order_keys([row["submission"] for row in ranked],
                      {name: key for name, key in held.items() if key is not None})
    for row in rows:
        row["order"] = keys.get(row["submission"])


def write_rank_row(client: MlflowClient, run_id: str, row: dict, held_tags: dict, held_order: Optional[float]) -> bool:
    """Write onto one run what of `row` differs from what it holds (`held_tags`, `held_order`);
    return whether anything was written. A metric on its own costs about half of the same metric
    with a tag in one `log_batch`."""
    tags = [RunTag(key, value) for key, value in rank_row_tags(row).items() if held_tags.get(key) != value]
    order = row.get("order")
    metric = (Metric(ORDER_METRIC, float(order), int(time.time() * 1000), 0)
              if order is not None and held_order != float(order) else None)
    if tags:
        client.log_batch(run_id, metrics=[metric] if metric else [], tags=tags)
    elif metric:
        client.log_metric(run_id, metric.key, metric.value, metric.timestamp, metric.step)
    return bool(tags or metric)


def write_rank_rows(client: MlflowClient, writes: list[tuple[str, dict, dict, Optional[float]]]) -> int:
    """write_rank_row for each (run_id, row, held_tags, held_order); returns how many runs were
    written. The first failure is raised (as from a loop), after the writes in flight finish."""
    def write(job) -> bool:
        return write_rank_row(client, *job)

    if len(writes) > 1 and is_server(str(client.tracking_uri)):
        with ThreadPoolExecutor(SERVER_WRITERS) as pool:
            return sum(pool.map(write, writes))
    return sum(write(job) for job in writes)


def publish_ranks(client: MlflowClient, experiment_id: str, rows: list[dict], runs: Optional[list] = None) -> int:
    """Put the leaderboard's order key, Pareto and duplicate flags on each current run (reading what
    each holds, so only differences are written); return how many runs changed.

    rows: dicts with submission, rank (None for failed), pareto, duplicate (run_fields.duplicate_kinds) and optionally
    handin_tags (run_fields.handin_tags); each gets its "order" (assign_order). A one-column sort
    by `leaderboard_order` in `mlflow ui` then reproduces the leaderboard with all of its tie-breaks.
    runs: the current runs to update, if the caller has them; otherwise every current run is searched.
    """
    by_submission = {row["submission"]: row for row in rows}
    runs = [run for run in (current_runs(client, experiment_id) if runs is None else runs)
            if run.data.tags.get("submission") in by_submission]
    assign_order(rows, {run.data.tags["submission"]: run.data.metrics.get(ORDER_METRIC) for run in runs})
    writes = []
    for run in runs:
        for legacy in LEGACY_TAGS:
            if legacy in run.data.tags:
                client.delete_tag(run.info.run_id, legacy)
        writes.append((run.info.run_id, by_submission[run.data.tags["submission"]], run.data.tags,
                       run.data.metrics.get(ORDER_METRIC)))
    return write_rank_rows(client, writes)
