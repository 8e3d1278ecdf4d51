"""Grading into a real `mlflow server` on 127.0.0.1 (params.yaml's mlflow.tracking_uri), with two
seeds per submission: the run carries mean ± std and per-seed scores, artifacts go through the
server, and `ui` prints links to the server's own UI."""

import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.helpers import FIXTURES, free_port, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_grade_into_a_tracking_server_with_two_seeds(dvc_project, server, tmp_path):
    project = tmp_path / "project"
    (project / "submissions").mkdir(parents=True)
    shutil.copytree(FIXTURES / "good", project / "submissions" / "alice")
    (project / "data" / "prepared").mkdir(parents=True)
    (project / "data" / "prepared" / "mnist").symlink_to(dvc_project.root / "data" / "prepared" / "mnist")
    params = yaml.safe_load((dvc_project.root / "params.yaml").read_text())
    params["tracks"]["mnist"]["seeds"] = 2
    params["mlflow"]["tracking_uri"] = server
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**dvc_project.env}

    graded = run([sys.executable, "-m", "pipeline", "grade", "mnist"], project, env)
    assert "mnist/alice: ok (public accuracy" in graded and " ± " in graded
    run([sys.executable, "-m", "pipeline", "leaderboard", "--track", "mnist"], project, env)
    assert " ± " in (project / "results" / "leaderboard.md").read_text()
    assert not (project / "mlflow.db").exists()  # nothing went to a local store

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("gradebench-mnist")
    (entry,) = client.search_runs([experiment.experiment_id], filter_string="tags.current = 'true'")
    metrics = entry.data.metrics
    assert entry.info.run_name == "alice" and entry.data.params["seeds"] == "1234,1235"
    assert metrics["leaderboard_order"] == 1 and "public_accuracy_std" in metrics
    per_seed = client.get_metric_history(entry.info.run_id, "seed_public_accuracy")
    assert sorted(m.step for m in per_seed) == [1234, 1235]
    assert metrics["public_accuracy"] == pytest.approx(sum(m.value for m in per_seed) / 2, abs=1e-12)
    feedback = {a.path for a in client.list_artifacts(entry.info.run_id, "feedback")}
    assert "feedback/learning_curves.png" in feedback
    downloaded = client.download_artifacts(entry.info.run_id, "submission/model.py", str(tmp_path / "dl"))
    assert "build_model" in open(downloaded).read()

    links = run([sys.executable, "-m", "pipeline", "ui"], project, env)
    assert f"mnist: {server}/#/experiments/{experiment.experiment_id}/runs?viewStateShareKey=" in links
