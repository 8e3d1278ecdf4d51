"""MLflow logging on a local store: superseding re-grades, key columns, ranks, the saved view."""

import json

import pytest

from pipeline.grading.record import Result
from pipeline.reporting import tracking, ui


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
    current = {run.info.run_name: run for run in tracking.current_runs(client, logger.experiment_id)}
    assert sorted(current) == ["alice", "bob"]

    tracking.publish_ranks(client, logger.experiment_id, [
        {"submission": "alice", "rank": 1, "pareto": True, "duplicate_of": ""},
        {"submission": "bob", "rank": 2, "pareto": False, "duplicate_of": "source: alice"},
    ])
    bob = client.get_run(current["bob"].info.run_id)
    assert bob.data.metrics["rank"] == 2 and bob.data.tags["duplicate_of"] == "source: alice"
    assert "rank" not in client.get_run(first).data.metrics  # superseded runs keep no rank

    ui.install_view(client, logger.experiment_id, reveal_private=False)
    tag = client.get_experiment(logger.experiment_id).tags[ui.VIEW_TAG]
    state = json.loads(json.loads(tag)["state"])
    assert state["orderByKey"] == "metrics.`rank`" and state["orderByAsc"] is True
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


def test_dvc_lock_data_md5(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  preprocess@mnist:\n    outs:\n    - path: data/prepared/mnist\n"
                    "      md5: abc123.dir\n")
    assert tracking.dvc_lock_data_md5("mnist", lock) == "abc123.dir"
    assert tracking.dvc_lock_data_md5("notmnist", lock) == "unknown"
    assert tracking.dvc_lock_data_md5("mnist", tmp_path / "missing.lock") == "unknown"
