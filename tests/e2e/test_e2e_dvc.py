"""End to end: `dvc repro` in a copy of the repository on a small subset of the real data.

Asserts what an instructor relies on: every submission graded on both tracks, the leaderboard,
grades and MLflow runs agree, the private score stays out of every export, feedback files exist,
a no-change repro trains nothing, one edited model.py re-trains alone (and reproduces its score
bit for bit, superseding its old MLflow run), and a notMNIST schedule change re-grades only notMNIST.
"""

import json
import subprocess

import pandas as pd
import pytest
import yaml

from pipeline.paths import Paths
from pipeline.reporting.publish import local_artifact_root
from tests.helpers import REFERENCES, STUDENTS, run

TRACKS = ("mnist", "notmnist")
SUBMISSIONS = sorted([*REFERENCES, *STUDENTS])
OK = sorted([*REFERENCES, "student_alice", "student_bob"])

pytestmark = pytest.mark.slow


def results(root, track):
    return {path.stem: json.loads(path.read_text()) for path in (root / "results" / track).glob("*.json")}


def mlflow_runs(root, track, current_only=False):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"gradebench-{track}")
    query = "tags.current = 'true'" if current_only else ""
    return client, client.search_runs([experiment.experiment_id], filter_string=query)


def test_first_repro_grades_every_submission_on_both_tracks(dvc_project):
    root, output = dvc_project.root, dvc_project.first_output
    board = pd.read_csv(root / "results" / "leaderboard.csv")
    for track in TRACKS:
        rows = board[board["track"] == track]
        assert sorted(rows["submission"]) == SUBMISSIONS
        ok = rows[rows["status"] == "ok"]
        assert sorted(ok["submission"]) == OK, rows[["submission", "status", "error"]]
        assert ok["rank"].tolist() == list(range(1, len(OK) + 1))
        # Ranked by public accuracy, highest first; the best model learns well above chance (0.1)
        # even on 1000 images and 2 epochs, so every class reached training and scoring.
        assert ok["public_accuracy"].is_monotonic_decreasing
        assert ok["public_accuracy"].max() > 0.3
        carol = rows.set_index("submission").loc["student_carol"]
        assert carol["status"] == "invalid" and "SyntaxError" in carol["error"] and pd.isna(carol["rank"])
        assert rows.set_index("submission")["baseline"].to_dict() == {name: name in REFERENCES for name in SUBMISSIONS}
        assert f"{track}: {len(SUBMISSIONS)} submissions, {len(SUBMISSIONS)} to grade" in output
        assert ok["pareto"].any() and bool(ok.iloc[0]["pareto"])  # the most accurate is always on the front
    metrics = json.loads((root / "results" / "metrics.json").read_text())
    assert metrics["mnist"]["graded_ok"] == len(OK) and metrics["mnist"]["ranked_by"] == "public_accuracy"
    assert (root / "data" / "prepared" / "notmnist" / "report.json").exists()


def test_private_scores_stay_out_of_every_export(dvc_project):
    root = dvc_project.root
    hidden = {"private_accuracy", "private_accuracy_std", "test_accuracy"}
    board = pd.read_csv(root / "results" / "leaderboard.csv")
    assert not hidden & set(board.columns)
    header = (root / "results" / "leaderboard.md").read_text().split("## mnist")[1].splitlines()[2]
    assert "public_accuracy" in header and "private" not in header and "test_accuracy" not in header
    assert "private" not in (root / "results" / "metrics.json").read_text()
    assert "private" not in (root / "results" / "grades.csv").read_text()
    # The trusted per-submission results keep both parts for the final ranking.
    alice = results(root, "mnist")["student_alice"]
    assert 0 <= alice["private_accuracy"] <= 1 and 0 <= alice["public_accuracy"] <= 1


def test_duplicates_are_flagged_and_grades_written(dvc_project):
    root = dvc_project.root
    board = pd.read_csv(root / "results" / "leaderboard.csv").fillna("")
    mnist = board[board["track"] == "mnist"].set_index("submission")
    # Alice's one-layer model is also exactly the reference logistic regression's architecture.
    assert mnist.loc["student_alice", "duplicate_of"] == (
        "source: student_bob; architecture: logistic_regression, student_bob")
    assert mnist.loc["student_bob", "duplicate_of"] == (
        "source: student_alice; architecture: logistic_regression, student_alice")
    assert mnist.loc["small_cnn", "duplicate_of"] == ""
    grades = pd.read_csv(root / "results" / "grades.csv", dtype={"student_id": str})
    assert list(grades.columns) == ["student_id", "mnist_marks", "notmnist_marks", "late_days", "penalty", "total",
                                    "handin", "status", "review", "comment"]
    assert grades["student_id"].tolist() == ["s001", "s002", "s003"]  # one row per student, no baselines
    carol = grades.set_index("student_id").loc["s003"]
    assert carol["status"] == "invalid" and carol["total"] == 0 and "SyntaxError" in carol["comment"]
    alice = grades.set_index("student_id").loc["s001"]
    assert "provisional" in alice["comment"] and "for review" in alice["comment"]
    assert alice["total"] == alice["mnist_marks"] + alice["notmnist_marks"]


def test_feedback_files_and_pareto_plots(dvc_project):
    """Each submission's feedback is in feedback/<track>/<id>/, out of results/ (which holds only a
    result and a log per submission); DVC ignores it and site/, and hashes neither."""
    root = dvc_project.root
    for track in TRACKS:
        feedback = root / "feedback" / track / "small_cnn"
        assert {p.name for p in feedback.iterdir()} == {
            "history.csv", "learning_curves.png", "confusion_matrix.png", "misclassified.png", "confusion.csv"}
        history = pd.read_csv(feedback / "history.csv")
        assert history["epoch"].tolist() == [1, 2] and {"loss", "val_accuracy"} <= set(history.columns)
        confusion = pd.read_csv(feedback / "confusion.csv")
        assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 300  # validation size
        assert (root / "results" / "plots" / f"pareto_{track}.png").stat().st_size > 1000
        assert not [path for path in (root / "results" / track).iterdir() if path.is_dir()]
    for path in (feedback / "misclassified.png", next((root / "site").rglob("*.html"))):
        ignored = subprocess.run(["dvc", "check-ignore", str(path.relative_to(root))], cwd=root,
                                 env=dvc_project.env, capture_output=True, text=True)
        assert ignored.returncode == 0, f"DVC walks {path}: {ignored.stdout}{ignored.stderr}"
    shown = json.loads(run(["dvc", "plots", "show", "--json"], root, dvc_project.env))
    assert not shown.get("errors"), shown.get("errors")
    assert any(key.endswith(f"pareto_{TRACKS[0]}.png") for key in shown["data"])


def test_mlflow_runs_match_results(dvc_project):
    root = dvc_project.root
    for track in TRACKS:
        client, runs = mlflow_runs(root, track)
        graded = results(root, track)
        assert sorted(run.info.run_name for run in runs) == sorted(graded)
        for run_ in runs:
            result = graded[run_.info.run_name]
            tags, metrics, params = run_.data.tags, run_.data.metrics, run_.data.params
            assert tags["status"] == result["status"]
            assert tags["content_hash"] == result["content_hash"]
            assert tags["current"] == "true" and tags["baseline"] == ("true" if result["baseline"] else "false")
            assert tags["git_commit"] != "unknown" and len(tags["data_dvc_lock_md5"]) >= 32
            assert tags["version.keras"] and params["seeds"] == "1234" and params["schedule.optimizer"] == "sgd"
            artifacts = {a.path for a in client.list_artifacts(run_.info.run_id)}
            assert {"grading_log.txt", "result.json", "submission"} <= artifacts
            if result["status"] != "ok":
                assert "leaderboard_order" not in metrics
                continue
            for key in ("public_accuracy", "private_accuracy", "test_accuracy"):
                assert metrics[key] == result[key]
            assert metrics["trainable_params"] == result["trainable_params"]
            assert metrics["leaderboard_order"] >= 1 and "rank" not in tags and "rank" not in metrics
            assert [m.step for m in client.get_metric_history(run_.info.run_id, "epoch_loss")] == [1, 2]
            feedback = {a.path for a in client.list_artifacts(run_.info.run_id, "feedback")}
            assert "feedback/learning_curves.png" in feedback and "feedback/misclassified.png" in feedback
            assert {"model_summary.txt"} <= artifacts


def test_dvc_does_not_walk_the_mlflow_artifact_store(dvc_project):
    """Every `dvc repro` walks each folder DVC does not ignore; mlruns/ gains files with every run
    graded (37,000 at 1,000 students by the end of a term), so it must be ignored."""
    root = dvc_project.root
    artifacts = [path for path in local_artifact_root("sqlite:///mlflow.db", Paths(root).mlruns).rglob("*") if path.is_file()]
    assert len(artifacts) > 10
    for path in (artifacts[0], artifacts[-1]):
        ignored = subprocess.run(["dvc", "check-ignore", str(path.relative_to(root))], cwd=root,
                                 env=dvc_project.env, capture_output=True, text=True)
        assert ignored.returncode == 0, f"DVC walks {path}: {ignored.stdout}{ignored.stderr}"
    kept = subprocess.run(["dvc", "check-ignore", "results/leaderboard.md"], cwd=root, env=dvc_project.env,
                          capture_output=True, text=True)
    assert kept.returncode == 1, kept.stdout


def test_second_repro_trains_nothing(dvc_project):
    root, env = dvc_project.root, dvc_project.env
    before = {track: results(root, track) for track in TRACKS}
    output = run(["dvc", "repro"], root, env)
    assert "to grade" not in output, output
    assert {track: results(root, track) for track in TRACKS} == before


def test_one_changed_submission_retrains_alone_reproduces_and_supersedes(dvc_project):
    root, env = dvc_project.root, dvc_project.env
    before = results(root, "mnist")["mlp_64_64_tanh"]
    model = root / "submissions" / "mlp_64_64_tanh" / "model.py"
    images_before = {path: path.stat().st_ino for path in (root / "site").rglob("*.png")}
    model.write_text(model.read_text() + "\n# a comment changes the hash, not the model\n")
    output = run(["dvc", "repro"], root, env)
    # The report stage re-ran and synced site/ rather than DVC deleting it first: the feedback
    # images of every submission but this one (re-graded on both tracks) are the same files.
    assert "Running stage 'report'" in output
    moved = [path for path, inode in images_before.items() if not path.exists() or path.stat().st_ino != inode]
    assert len(images_before) > 20 and len({path.parent for path in moved}) <= 1, moved
    assert f"mnist: {len(SUBMISSIONS)} submissions, 1 to grade, {len(SUBMISSIONS) - 1} up to date" in output
    after = results(root, "mnist")["mlp_64_64_tanh"]
    assert after["content_hash"] != before["content_hash"]
    assert after["source_hash"] == before["source_hash"]  # comments are not part of the normalised source
    # Same model, data and schedule: bit-identical history and score.
    assert after["history"] == before["history"]
    assert after["public_accuracy"] == before["public_accuracy"]
    assert after["per_seed"][0]["predictions_sha256"] == before["per_seed"][0]["predictions_sha256"]
    _, runs = mlflow_runs(root, "mnist")
    tanh = [r for r in runs if r.info.run_name == "mlp_64_64_tanh"]
    assert len(tanh) == 2
    current = [r for r in tanh if r.data.tags["current"] == "true"]
    old = [r for r in tanh if r.data.tags["current"] == "false"]
    assert len(current) == 1 and len(old) == 1
    assert old[0].data.tags["superseded"] == "true" and old[0].data.tags["superseded_by"] == current[0].info.run_id
    assert current[0].data.tags["content_hash"] == after["content_hash"]
    # same score, same place: the submission keeps its sort key
    assert current[0].data.metrics["leaderboard_order"] == old[0].data.metrics["leaderboard_order"]


def test_notmnist_schedule_change_regrades_only_notmnist(dvc_project):
    root, env = dvc_project.root, dvc_project.env
    mnist_before = results(root, "mnist")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tracks"]["notmnist"]["schedule"]["epochs"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    output = run(["dvc", "repro"], root, env)
    assert f"notmnist: {len(SUBMISSIONS)} submissions, {len(SUBMISSIONS)} to grade" in output
    assert "mnist: " not in output.replace("notmnist: ", "")
    assert results(root, "mnist") == mnist_before
    assert all(len(r["history"]["loss"]) == 1 for r in results(root, "notmnist").values() if r["status"] == "ok")
