"""The leaderboard link at cohort scale: on a store of more than 1,000 current runs (plus superseded
ones), headless Chromium opens `ui`'s link and the first rows the MLflow UI loads (it fetches 100 at
a time) must be the top of the ranking, in order, with no superseded run among them."""

import time

import pytest
from mlflow.entities import Metric

from pipeline.reporting import rank_publish, run_search, tracking_store, ui
from tests.helpers import ARTIFACTS, chromium, free_port, needs_chromium
from tests.reporting.test_ui_browser import NAME_COLUMN, READ_ROWS, WINDOW

STUDENTS = run_search.SEARCH_PAGE_SIZE + 25
SUPERSEDED = 30

pytestmark = [pytest.mark.slow, needs_chromium]


def rank_of(index: int) -> int:
    """Ranks in a shuffled order of creation, so the table's order comes from the sort alone."""
    return (index * 7919) % STUDENTS + 1


def test_leaderboard_link_opens_on_the_top_ranks_of_a_large_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking_store.make_client(uri)
    experiment_id = client.create_experiment(tracking_store.experiment_name("mnist"),
                                             artifact_location=(tmp_path / "mlruns").as_uri())
    # Superseded re-grades first, with better (smaller) ranks: they must stay hidden.
    for index in range(SUPERSEDED):
        run = client.create_run(experiment_id, run_name=f"s{index:04d}",
                                tags={"current": "false", "superseded": "true", "submission": f"s{index:04d}"})
        client.log_batch(run.info.run_id, metrics=[Metric(rank_publish.ORDER_METRIC, 0.0, 0, 0), Metric("public_accuracy", 1.0, 0, 0)])
    for index in range(STUDENTS):
        run = client.create_run(experiment_id, run_name=f"s{index:04d}",
                                tags={"current": "true", "submission": f"s{index:04d}"})
        client.log_batch(run.info.run_id, metrics=[Metric("public_accuracy", 1 - rank_of(index) / 10000, 0, 0)])
    rows = [{"submission": f"s{index:04d}", "rank": rank_of(index), "pareto": False, "duplicate": ""}
            for index in range(STUDENTS)]
    assert rank_publish.publish_ranks(client, experiment_id, rows) == STUDENTS
    links = ui.track_links(client, "http://127.0.0.1:PORT", ["mnist"], reveal_private=False)
    expected = [row["submission"] for row in sorted(rows, key=lambda row: row["rank"])]

    port = free_port()
    server = ui.start_server(uri, (tmp_path / "mlruns").as_uri(), "127.0.0.1", port)
    try:
        ui.wait_until_up(f"http://127.0.0.1:{port}", server)
        with chromium(WINDOW) as driver:
            driver.get(links["mnist"].replace("PORT", str(port)))
            names: list[str] = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                shown = [row for row in driver.execute_script(READ_ROWS) if row.get(NAME_COLUMN)]
                names = [row[NAME_COLUMN].splitlines()[-1] for row in shown]
                if len(names) >= 10 and names == expected[:len(names)]:
                    break
                time.sleep(1)
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "mlflow_leaderboard_1025_runs.png"))
        assert len(names) >= 10, names
        assert names == expected[:len(names)], f"first rows not in rank order: {names[:20]}"
    finally:
        ui.stop_server(server)
