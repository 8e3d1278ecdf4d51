"""Finding runs in an MLflow store: the current runs of a track, every page of a search, filter literals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# The runs of the leaderboard; superseded re-grades are kept but tagged current=false.
CURRENT_FILTER = "tags.current = 'true'"
# Runs per search page: MLflow's default page size and what its servers serve per request.
SEARCH_PAGE_SIZE = 1000


def filter_literal(value: str) -> str:
    """A string literal for MLflow's search filter (quoted with whichever quote it lacks)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"submission id {value!r} holds both kinds of quote; rename its folder")


def search_all_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str,
                    order_by: Optional[list[str]] = None) -> list:
    """Every run matching the filter, page by page.

    A tracking server caps each page (MLflow issue 15814: a caller that does not follow
    `PagedList.token` silently stops at 1,000 runs), so this follows the token to the end."""
    runs: list = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=SEARCH_PAGE_SIZE,
                                  order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def current_runs(client: MlflowClient, experiment_id: str) -> list:
    return search_all_runs(client, [experiment_id], CURRENT_FILTER)
