"""`python -m pipeline rerun <run-id>` re-grades exactly one MLflow entry of the small dvc
project and reports that the score reproduces bit for bit."""

import sys

import pytest

from tests.helpers import run

pytestmark = pytest.mark.slow


def current_run(root, track, submission):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"gradebench-{track}")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.current = 'true'")
    return client, next(r for r in runs if r.info.run_name == submission)


def test_rerun_reproduces_a_score_bit_identically(dvc_project):
    root, env = dvc_project.root, dvc_project.env
    client, entry = current_run(root, "mnist", "logistic_regression")
    output = run([sys.executable, "-m", "pipeline", "rerun", entry.info.run_id], root, env)
    assert f"REPRODUCED: run {entry.info.run_id}" in output, output
    assert "public_accuracy recorded" in output and "(DIFFERENT)" not in output
    assert "predictions_sha256" in output
    assert client.get_run(entry.info.run_id).data.tags["rerun.reproduced"] == "true"


def test_rerun_of_an_unknown_run_is_a_clear_error(dvc_project):
    completed = run([sys.executable, "-m", "pipeline", "rerun", "0123456789abcdef"], dvc_project.root,
                    dvc_project.env, check=False)
    assert completed.returncode == 2 and "error: MLflow:" in completed.stderr
    assert "Traceback" not in completed.stderr
