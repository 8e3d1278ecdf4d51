"""Ranking rules: accuracy first, fewer trainable parameters break ties, failures at the bottom."""

import json

import pandas as pd

from pipeline import leaderboard


def write_result(folder, submission, status="ok", accuracy=None, params=None, error=None):
    folder.mkdir(parents=True, exist_ok=True)
    result = {"submission": submission, "status": status, "test_accuracy": accuracy,
              "validation_accuracy": accuracy, "trainable_params": params, "total_params": params,
              "train_seconds": 1.0, "predict_seconds": 0.1, "error": error}
    (folder / f"{submission}.json").write_text(json.dumps(result))


def test_ranking_ties_and_failures(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "big_tie", accuracy=0.95, params=1000)
    write_result(track, "small_tie", accuracy=0.95, params=10)
    write_result(track, "best", accuracy=0.99, params=5000)
    write_result(track, "worst", accuracy=0.50, params=1)
    write_result(track, "broken", status="invalid", error="model.py, line 3: SyntaxError: invalid syntax")
    write_result(track, "slow", status="timeout", error="ran longer than this track's limit of 60 s")

    table = leaderboard.write_leaderboards(tmp_path, ["mnist"])

    assert table["submission"].tolist() == ["best", "small_tie", "big_tie", "worst", "broken", "slow"]
    assert table["rank"].tolist()[:4] == [1, 2, 3, 4]
    assert table["rank"].iloc[4:].isna().all()
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert csv.loc[csv["submission"] == "broken", "error"].item().startswith("model.py, line 3")
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| 1      | best" in markdown and "0.9900" in markdown and "timeout" in markdown
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mnist"]["best_test_accuracy"] == 0.99
    assert metrics["mnist"]["failed"] == 2 and metrics["mnist"]["graded_ok"] == 4


def test_tracks_are_ranked_separately(tmp_path):
    write_result(tmp_path / "mnist", "a", accuracy=0.9, params=10)
    write_result(tmp_path / "notmnist", "a", accuracy=0.8, params=10)
    write_result(tmp_path / "notmnist", "b", accuracy=0.85, params=10)
    table = leaderboard.write_leaderboards(tmp_path, ["mnist", "notmnist"])
    notmnist = table[table["track"] == "notmnist"]
    assert notmnist["submission"].tolist() == ["b", "a"] and notmnist["rank"].tolist() == [1, 2]
