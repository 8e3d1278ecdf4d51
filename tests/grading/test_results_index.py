"""The digest of each current result that the report stage depends on (grading/results_index.py):
it changes exactly where a result changed, and dvc.yaml points the report at it, not at the
two files per student in results/<track>/."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipeline.grading import fingerprints, record
from pipeline.grading.cache import ResultCache
from pipeline.grading.results_index import index_path, known_keys, write_index
from tests.helpers import write_result

REPO = Path(__file__).resolve().parents[2]


def test_the_index_changes_exactly_where_a_result_changed(tmp_path):
    folder = tmp_path / "results" / "mnist"
    alice = write_result(folder, "alice", public=0.91, params=100)
    bob = write_result(folder, "bob", public=0.85, params=200)
    write_index(tmp_path / "results", "mnist", [alice, None, bob])
    path = index_path(tmp_path / "results", "mnist")
    first = path.read_bytes()
    assert set(json.loads(first)["results"]) == {"alice", "bob"}

    write_index(tmp_path / "results", "mnist", [bob, alice])  # the same results: the same bytes
    assert path.read_bytes() == first

    regraded = bob.model_copy(update={"public_accuracy": 0.86, "graded_at": "2024-01-02T00:00:00+00:00"})
    write_index(tmp_path / "results", "mnist", [alice, regraded])
    second = json.loads(path.read_text())["results"]
    assert second["alice"] == json.loads(first)["results"]["alice"]
    assert second["bob"]["digest"] != json.loads(first)["results"]["bob"]["digest"]

    write_index(tmp_path / "results", "mnist", [alice])  # bob's folder was deleted
    assert set(json.loads(path.read_text())["results"]) == {"alice"}


def test_the_report_depends_on_each_tracks_index_not_on_its_result_files():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    tracks = yaml.safe_load((REPO / "params.yaml").read_text())["tracks"]
    report_deps = stages["report"]["deps"]
    for track in tracks:
        assert f"results/index/{track}.json" in report_deps
        assert f"results/{track}" not in report_deps
    grade_outs = [next(iter(out)) if isinstance(out, dict) else out for out in stages["grade"]["do"]["outs"]]
    assert "results/index/${key}.json" in grade_outs


def test_the_stale_check_trusts_the_index_only_for_the_very_files_it_indexed(tmp_path, monkeypatch):
    """A result file with the indexed inode, time and size is not parsed (its cache key is the
    index's); any other (rewritten, deleted, of another schema) is read as before, so the answer
    is the same as without the index."""
    root, track_key = tmp_path / "results", "track-key"
    submissions = []
    for name in ("alice", "bob", "carol"):
        folder = tmp_path / "submissions" / name
        folder.mkdir(parents=True)
        (folder / "model.py").write_text(f"# {name}\n")
        submissions.append(folder)
    cache = ResultCache(root / "mnist")
    results = [write_result(root / "mnist", folder.name, public=0.9, params=100).model_copy(update={
        "cache_key": fingerprints.cache_key(fingerprints.submission_sha256(folder.resolve()), track_key)})
        for folder in submissions]
    for result in results:
        cache.write(result, "log")
    write_index(root, "mnist", results)

    parsed = []
    real_read = record.read_result
    monkeypatch.setattr("pipeline.grading.cache.read_result", lambda path: parsed.append(path.stem) or real_read(path))
    assert cache.stale(submissions, track_key, known_keys(root, "mnist")) == [] and parsed == []

    cache.write(results[1], "log again")  # bob's result written anew (same content, a new file)
    (root / "mnist" / "carol.json").unlink()
    (submissions[0] / "model.py").write_text("# alice, edited\n")
    stale = cache.stale(submissions, track_key, known_keys(root, "mnist"))
    # alice's result is the indexed file (her folder changed, not it): its key is the index's
    assert [entry.folder.name for entry in stale] == ["alice", "carol"] and sorted(parsed) == ["bob", "carol"]
    assert [entry.folder.name for entry in cache.stale(submissions, track_key)] == ["alice", "carol"]  # the same

    saved = json.loads(index_path(root, "mnist").read_text())
    index_path(root, "mnist").write_text(json.dumps({**saved, "schema_version": record.SCHEMA_VERSION + 1}))
    assert known_keys(root, "mnist") == {}  # results of another schema: every one is parsed
    index_path(root, "mnist").write_text("{not json")
    assert known_keys(root, "mnist") == {}
