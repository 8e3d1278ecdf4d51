"""MLflow bookkeeping at cohort scale: more runs than one search page (MLflow issue 15814)."""

import time

from mlflow.entities import Metric

from pipeline.reporting import rank_publish, run_search, tracking, tracking_store

# One more than a page: an unpaged search returns exactly SEARCH_PAGE_SIZE runs and misses one.
STUDENTS = run_search.SEARCH_PAGE_SIZE + 25
SUPERSEDED = 40


def test_current_runs_and_ranks_page_past_one_thousand(tmp_path):
    started = time.perf_counter()
    client = tracking_store.make_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("gradebench-scale")
    for index in range(STUDENTS + SUPERSEDED):
        # The first SUPERSEDED runs are older re-grades: they must stay out of the leaderboard.
        submission = f"s{index % STUDENTS:04d}"
        current = "false" if index < SUPERSEDED else "true"
        run = client.create_run(experiment_id, run_name=submission,
                                tags={"current": current, "submission": submission})
        client.log_batch(run.info.run_id, metrics=[Metric("public_accuracy", (index * 7919 % 1000) / 1000, 0, 0)])
    created = time.perf_counter() - started

    runs = run_search.current_runs(client, experiment_id)
    assert len(runs) == STUDENTS
    assert len({run.data.tags["submission"] for run in runs}) == STUDENTS
    unpaged = client.search_runs([experiment_id], filter_string=run_search.CURRENT_FILTER)
    assert len(unpaged) == run_search.SEARCH_PAGE_SIZE  # what a caller that does not page would see

    rows = [{"submission": f"s{index:04d}", "rank": index + 1, "pareto": index == 0, "duplicate": ""}
            for index in range(STUDENTS)]
    ranking_started = time.perf_counter()
    assert rank_publish.publish_ranks(client, experiment_id, rows) == STUDENTS
    ranking = time.perf_counter() - ranking_started
    assert rank_publish.publish_ranks(client, experiment_id, rows) == 0  # nothing changed: no writes

    ranked = run_search.search_all_runs(client, [experiment_id], run_search.CURRENT_FILTER, order_by=[f"metrics.{rank_publish.ORDER_METRIC} ASC"])
    assert [run.data.tags["submission"] for run in ranked] == [row["submission"] for row in rows]
    # a first publish numbers the runs 1, 2, 3, ...: the key equals the rank
    assert [run.data.metrics[rank_publish.ORDER_METRIC] for run in ranked] == [float(index + 1) for index in range(STUDENTS)]
    superseded = client.search_runs([experiment_id], filter_string="tags.current = 'false'")
    assert len(superseded) == SUPERSEDED and all(rank_publish.ORDER_METRIC not in run.data.metrics for run in superseded)
    print(f"\n{STUDENTS + SUPERSEDED} runs created in {created:.1f} s, {STUDENTS} ranked in {ranking:.1f} s")


def test_supersede_filters_on_the_submission(tmp_path):
    logger = tracking.TrackLogger(f"sqlite:///{tmp_path / 'mlflow.db'}", "mnist", artifact_root=tmp_path / "mlruns",
                                  submissions_dir=tmp_path / "submissions")
    client = logger.client
    ids = {}
    for name in ("o'brien", "o'brien2", "bob"):
        ids[name] = client.create_run(logger.experiment_id, run_name=name,
                                      tags={"current": "true", "submission": name}).info.run_id
    newer = client.create_run(logger.experiment_id, run_name="o'brien",
                              tags={"current": "true", "submission": "o'brien"}).info.run_id
    logger.supersede_previous("o'brien", newer)
    tags = {name: client.get_run(run_id).data.tags for name, run_id in ids.items()}
    assert tags["o'brien"]["current"] == "false" and tags["o'brien"]["superseded_by"] == newer
    assert tags["o'brien2"]["current"] == "true" and tags["bob"]["current"] == "true"
    assert client.get_run(newer).data.tags["current"] == "true"
    assert run_search.filter_literal("plain") == "'plain'" and run_search.filter_literal("o'b") == '"o\'b"'
