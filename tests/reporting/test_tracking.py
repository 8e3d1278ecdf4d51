"""MLflow logging on a local store: superseding re-grades, key columns, ranks, the saved view."""

import json

import pytest

from pipeline.grading.record import Result
from pipeline.reporting import rank_publish, run_fields, run_search, tracking, tracking_store, ui


def result(submission, accuracy, content_hash="c1", status="ok", **extra) -> Result:
    return Result(submission=submission, track="mnist", status=status, error=None if status == "ok" else "boom",
                  content_hash=content_hash, public_accuracy=accuracy, private_accuracy=accuracy,
                  test_accuracy=accuracy, trainable_params=7850, train_seconds=1.5, seeds=[1234],
                  schedule={"seed": 1234, "epochs": 2, "optimizer": "sgd"}, baseline=False,
                  history={"loss": [1.0, 0.5]}, cache_key="k", data_fingerprint="d", grader_fingerprint="g",
                  grading_config={}, graded_at="2024-01-01T00:00:00+00:00", **extra)


@pytest.fixture(scope="module")
def logger(tmp_path_factory):
    """One store for the module: creating an MLflow sqlite database takes seconds."""
    root = tmp_path_factory.mktemp("tracking")
    return tracking.TrackLogger(f"sqlite:///{root / 'mlflow.db'}", "mnist", artifact_root=root / "mlruns",
                                submissions_dir=root / "submissions")


def test_regrade_supersedes_and_ranks_and_view(logger):
    first = logger.log(result("alice", 0.9, "old"), "log 1")
    logger.log(result("bob", 0.8), "log")
    second = logger.log(result("alice", 0.95, "new"), "log 2")
    client = logger.client
    old, new = client.get_run(first), client.get_run(second)
    assert old.data.tags["current"] == "false" and old.data.tags["superseded"] == "true"
    assert old.data.tags["superseded_by"] == second
    assert new.data.tags["current"] == "true" and new.data.tags["superseded"] == "false"
    assert new.info.run_name == "alice" and new.info.status == "FINISHED"
    assert new.data.metrics["public_accuracy"] == 0.95 and new.data.metrics["trainable_params"] == 7850
    assert new.data.tags["status"] == "ok" and new.data.params["seeds"] == "1234"
    current = {run.info.run_name: run for run in run_search.current_runs(client, logger.experiment_id)}
    assert sorted(current) == ["alice", "bob"]

    rank_publish.publish_ranks(client, logger.experiment_id, [
        {"submission": "alice", "rank": 1, "pareto": True, "duplicate": ""},
        {"submission": "bob", "rank": 2, "pareto": False, "duplicate": "source"},
    ])
    bob = client.get_run(current["bob"].info.run_id)
    order = rank_publish.ORDER_METRIC
    assert bob.data.metrics[order] == 2 and bob.data.tags["duplicate"] == "source"
    assert order not in client.get_run(first).data.metrics  # superseded runs keep no key

    ui.install_view(client, logger.experiment_id, reveal_private=False)
    tag = client.get_experiment(logger.experiment_id).tags[ui.VIEW_TAG]
    state = json.loads(json.loads(tag)["state"])
    assert state["orderByKey"] == "metrics.`leaderboard_order`" and state["orderByAsc"] is True
    assert state["searchFilter"] == "tags.current = 'true'"
    assert "metrics.`public_accuracy`" in state["selectedColumns"]
    assert not any("private" in column for column in state["selectedColumns"])
    assert ui.runs_table_url("http://h:1/", logger.experiment_id).endswith(
        f"/#/experiments/{logger.experiment_id}/runs?viewStateShareKey={ui.VIEW_KEY}")


def test_failed_run_is_logged_as_failed(logger):
    run_id = logger.log(result("carol", None, status="invalid"), "log")
    run = logger.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["status"] == "invalid"
    assert "public_accuracy" not in run.data.metrics and run.data.tags["mlflow.note.content"] == "boom"


def test_a_flagged_result_carries_its_review_as_a_tag(logger):
    message = ("review: hidden-test accuracy far above validation "
               "(test 1.0000 on 3,000 images, validation 0.4400 on 1,200)")
    flagged = logger.client.get_run(logger.log(result("mallory", 1.0, review=message), "log"))
    honest = logger.client.get_run(logger.log(result("dora", 0.9), "log"))
    assert flagged.data.tags["review"] == message
    assert honest.data.tags["review"] == ""
    found = run_search.search_all_runs(logger.client, [logger.experiment_id], "tags.review LIKE 'review:%'")
    assert [run.info.run_name for run in found] == ["mallory"]
    assert "tags.`review`" in ui.view_state(reveal_private=False)["selectedColumns"]


def test_dvc_lock_data_md5(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  preprocess@mnist:\n    outs:\n    - path: data/prepared/mnist\n"
                    "      md5: abc123.dir\n")
    assert run_fields.dvc_lock_data_md5("mnist", lock) == "abc123.dir"
    assert run_fields.dvc_lock_data_md5("notmnist", lock) == "unknown"
    assert run_fields.dvc_lock_data_md5("mnist", tmp_path / "missing.lock") == "unknown"


def test_publishing_ranks_writes_only_changed_runs_and_falls_back_when_the_record_is_stale(logger, tmp_path, monkeypatch):
    """`grade` re-publishes only the rows that changed since its record (a one-submission change
    among 1,000 must not search every current run); a record that no longer matches the store
    (a run superseded behind its back, another store) falls back to searching them all."""
    from pipeline.reporting import publish

    track = tracking.TrackLogger(logger.client.tracking_uri, "record", artifact_root=tmp_path / "mlruns",
                                 submissions_dir=tmp_path / "submissions")
    client, experiment = track.client, track.experiment_id
    logged = {name: track.log(result(name, accuracy), "log") for name, accuracy in
              (("ann", 0.9), ("ben", 0.8), ("cat", 0.7))}
    store = {"uri": client.tracking_uri, "experiment_id": experiment, "created": 1}

    def rows(order):
        return [{"submission": name, "rank": rank, "pareto": rank == 1, "duplicate": "",
                 "handin_tags": run_fields.handin_tags(False, 0, 0, "folder", None, None)}
                for rank, name in enumerate(order, start=1)]

    def order():
        """The current runs as the saved view sorts them, with their keys."""
        runs = run_search.current_runs(client, experiment)
        keyed = sorted((run.data.metrics[rank_publish.ORDER_METRIC], run.data.tags["submission"]) for run in runs)
        return [name for _, name in keyed]

    record_path = tmp_path / publish.RECORD_FILE
    assert publish.publish_track_ranks(client, experiment, rows(["ann", "ben", "cat"]),
                                       publish.RankRecord(record_path, store), logged) == 3
    assert order() == ["ann", "ben", "cat"]

    def no_search(*args, **kwargs):
        raise AssertionError("searched the store although the record knew which runs changed")

    with monkeypatch.context() as patched:
        patched.setattr(run_search, "search_all_runs", no_search)
        assert publish.publish_track_ranks(client, experiment, rows(["ann", "ben", "cat"]),
                                           publish.RankRecord(record_path, store), {}) == 0
        # cat passes ben: one run moved past another, one write (cat's key goes between ann's and ben's)
        assert publish.publish_track_ranks(client, experiment, rows(["ann", "cat", "ben"]),
                                           publish.RankRecord(record_path, store), {}) == 1
    assert order() == ["ann", "cat", "ben"]
    assert all("rank" not in run.data.tags for run in run_search.current_runs(client, experiment))

    # ben re-graded by a grade that was killed after logging its run and before publishing: the
    # record it found named ben's old run, so it took it off the disk before logging.
    killed = publish.MlflowPublisher(client.tracking_uri, "record", "mnist", tmp_path / "submissions", tmp_path,
                                    dvc_lock=tmp_path / "dvc.lock", artifact_root=tmp_path / "mlruns")
    killed.log(result("ben", 0.95, "c2"), "log", tmp_path)
    killed.close()
    assert not record_path.exists()
    new_ben = killed._logged["ben"]
    # every current run searched; written: ben's new run (it holds nothing yet) and ann, who lost
    # the Pareto flag; cat keeps its key, although its rank number did not stay
    assert publish.publish_track_ranks(client, experiment, rows(["ben", "ann", "cat"]),
                                       publish.RankRecord(record_path, store), {}) == 2
    assert order() == ["ben", "ann", "cat"]
    assert json.loads(record_path.read_text())["run_ids"]["ben"] == new_ben

    # A run deleted in the MLflow UI: writing to it fails, so every current run is searched instead.
    client.delete_run(logged["cat"])
    publish.publish_track_ranks(client, experiment, rows(["ben", "cat", "ann"]), publish.RankRecord(record_path, store), {})
    assert order() == ["ben", "ann"]
    assert json.loads(record_path.read_text())["run_ids"]["cat"] is None

    # A record made for another store, or by an older format (which put the rank in a tag or a
    # metric), is not trusted: every current run is searched again, and the old rank tag goes.
    other = publish.RankRecord(record_path, {**store, "created": 2})
    assert other.rows == {} and other.run_ids == {}
    client.set_tag(new_ben, "rank", "7")
    old_format = {key: value for key, value in json.loads(record_path.read_text()).items() if key != "format"}
    record_path.write_text(json.dumps(old_format))
    assert publish.RankRecord(record_path, store).rows == {}
    publish.publish_track_ranks(client, experiment, rows(["ben", "cat", "ann"]), publish.RankRecord(record_path, store), {})
    assert "rank" not in client.get_run(new_ben).data.tags and order() == ["ben", "ann"]


def test_a_resubmission_that_joins_a_group_of_twins_rewrites_its_own_run_only(logger, tmp_path):
    """The `duplicate` flag says which kind of twin a run has, not who: a class where dozens hand in
    the unchanged starter code must not rewrite all of them whenever one joins or leaves."""
    import pandas as pd

    from pipeline.reporting import publish

    track = tracking.TrackLogger(logger.client.tracking_uri, "twins", artifact_root=tmp_path / "mlruns",
                                 submissions_dir=tmp_path / "submissions")
    client, experiment = track.client, track.experiment_id
    store = {"uri": client.tracking_uri, "experiment_id": experiment, "created": 1}
    record_path = tmp_path / publish.RECORD_FILE

    def ranked(sources: dict[str, str]) -> pd.DataFrame:
        return pd.DataFrame([{"submission": name, "rank": rank, "pareto": False, "pareto_compute": False,
                              "source_hash": source, "architecture_hash": f"arch-{name}", "late": False,
                              "late_days": 0, "penalty": 0.0, "handin_source": "folder", "handin_commit": None,
                              "handin_lms_file": None} for rank, (name, source) in enumerate(sources.items(), start=1)])

    def publish_round(sources, logged) -> int:
        return publish.publish_track_ranks(client, experiment, publish.rank_rows(ranked(sources)),
                                           publish.RankRecord(record_path, store), logged)

    names = ["ann", "ben", "cat", "dan"]
    sources = {"ann": "starter", "ben": "starter", "cat": "starter", "dan": "own"}
    first = {name: track.log(result(name, 0.9 - index / 100), "log") for index, name in enumerate(names)}
    publish_round(sources, first)
    tags = {name: client.get_run(run).data.tags["duplicate"] for name, run in first.items()}
    assert tags == {"ann": "source", "ben": "source", "cat": "source", "dan": ""}

    # dan hands in the starter code too: only dan's run changes (a list of twins would change all four).
    dan = track.log(result("dan", 0.86, "c2"), "log")
    assert publish_round({**sources, "dan": "starter"}, {"dan": dan}) == 1
    assert client.get_run(dan).data.tags["duplicate"] == "source"
    assert "duplicate_of" not in client.get_run(dan).data.tags

    # A run published by an older version keeps a list of twins that would go stale: a full pass removes it.
    client.set_tag(first["ann"], "duplicate_of", "source: ben, cat")
    rank_publish.publish_ranks(client, experiment, publish.rank_rows(ranked({**sources, "dan": "starter"})))
    assert "duplicate_of" not in client.get_run(first["ann"]).data.tags


def test_a_grader_killed_while_creating_the_store_leaves_no_half_made_database(tmp_path):
    """Creating a sqlite store runs dozens of schema migrations; a Ctrl-C or kill in the middle
    used to leave an mlflow.db that failed every later run ("table ... already exists"). The
    migrations now run on a scratch file that gets the real name only when they are done."""
    import os
    import subprocess
    import sys
    import time

    from tests.helpers import REPO

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    create = ["-c", "import sys; from pipeline.reporting import tracking_store; tracking_store.make_client(sys.argv[1])", uri]
    creating = subprocess.Popen([sys.executable, *create], cwd=REPO)
    scratch = f"{db}{tracking_store.CREATING_SUFFIX}{creating.pid}"
    deadline = time.monotonic() + 120
    while not os.path.exists(scratch):
        assert creating.poll() is None and time.monotonic() < deadline, "the store was not created on a scratch file"
        time.sleep(0.005)
    time.sleep(0.05)  # into the migrations
    creating.kill()
    creating.wait()
    assert not db.exists(), "a store whose creation was killed has the real name"

    again = subprocess.run([sys.executable, *create], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(path.name for path in tmp_path.iterdir() if "creating" in path.name) == [], "leftover kept"
    client = tracking_store.make_client(uri)  # opens with MLflow's schema check
    assert [experiment.name for experiment in client.search_experiments()] == ["Default"]


@pytest.mark.parametrize("first", ["pipeline.reporting.run_fields", "pipeline.reporting.ui",
                                   "pipeline.grading.rerun, pipeline.reporting.tracking_store"])
def test_mlflow_telemetry_stays_off_whichever_module_imports_mlflow_first(first):
    """MLflow 3 starts a usage-telemetry client when it is first imported, unless told not to;
    grading machines are often offline and the records are the course's own. The `ui` and `rerun`
    commands once imported MLflow before the switch was set (`rerun` through grading/rerun.py)."""
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    # Without the variables by which MLflow itself turns telemetry off under pytest or in CI.
    env = {key: value for key, value in os.environ.items()
           if key not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS")}
    code = (f"import {first}; from mlflow.telemetry import get_telemetry_client; "
            "print(get_telemetry_client() is None)")
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.stdout.split() == ["True"], shown.stderr[-2000:]
