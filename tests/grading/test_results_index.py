"""The digest of each current result that the report stage depends on (grading/results_index.py):
it changes exactly where a result changed, and dvc.yaml points the report at it, not at the
two files per student in results/<track>/."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipeline.grading.results_index import index_path, write_index
from tests.helpers import write_result

REPO = Path(__file__).resolve().parents[2]


def test_the_index_changes_exactly_where_a_result_changed(tmp_path):
    folder = tmp_path / "results" / "mnist"
    alice = write_result(folder, "alice", public=0.91, params=100)
    bob = write_result(folder, "bob", public=0.85, params=200)
    write_index(tmp_path / "results", "mnist", [alice, None, bob])
    path = index_path(tmp_path / "results", "mnist")
    first = path.read_bytes()
    assert set(json.loads(first)) == {"alice", "bob"}

    write_index(tmp_path / "results", "mnist", [bob, alice])  # the same results: the same bytes
    assert path.read_bytes() == first

    regraded = bob.model_copy(update={"public_accuracy": 0.86, "graded_at": "2024-01-02T00:00:00+00:00"})
    write_index(tmp_path / "results", "mnist", [alice, regraded])
    second = json.loads(path.read_text())
    assert second["alice"] == json.loads(first)["alice"] and second["bob"] != json.loads(first)["bob"]

    write_index(tmp_path / "results", "mnist", [alice])  # bob's folder was deleted
    assert set(json.loads(path.read_text())) == {"alice"}


def test_the_report_depends_on_each_tracks_index_not_on_its_result_files():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    tracks = yaml.safe_load((REPO / "params.yaml").read_text())["tracks"]
    report_deps = stages["report"]["deps"]
    for track in tracks:
        assert f"results/index/{track}.json" in report_deps
        assert f"results/{track}" not in report_deps
    grade_outs = [next(iter(out)) if isinstance(out, dict) else out for out in stages["grade"]["do"]["outs"]]
    assert "results/index/${key}.json" in grade_outs
