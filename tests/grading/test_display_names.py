"""The display names the grade stage writes for the report (grading/display_names.py): read from
meta.yaml only where a submission changed, broken meta.yaml gives no name (the grade stage reports
it), the newest track's file wins, and the site shows them."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.grading.display_names import names_path, read_names, write_names


def _submission(root: Path, name: str, meta: str | None) -> Path:
    folder = root / "submissions" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text("def build_model(input_shape, num_classes): ...\n")
    if meta is not None:
        (folder / "meta.yaml").write_text(meta)
    return folder


def test_names_are_read_again_only_where_the_content_changed(tmp_path):
    alice = _submission(tmp_path, "alice", "display_name: Night Owl\n")
    bob = _submission(tmp_path, "bob", None)
    carol = _submission(tmp_path, "carol", "display_name: [not, a, name]\n")
    results = tmp_path / "results"
    write_names(results, "mnist", [alice, bob, carol], ["a1", "b1", "c1"])
    assert read_names(results, ["mnist"]) == {"alice": "Night Owl", "bob": None, "carol": None}

    (alice / "meta.yaml").write_text("display_name: Early Bird\n")
    (bob / "meta.yaml").write_text("display_name: Quiet Fox\n")
    # alice's content hash is the same: her name is not read again; bob's changed: his is.
    write_names(results, "mnist", [alice, bob, carol], ["a1", "b2", "c1"])
    assert read_names(results, ["mnist"]) == {"alice": "Night Owl", "bob": "Quiet Fox", "carol": None}
    write_names(results, "mnist", [alice, bob], ["a2", "b2"])  # carol's folder is gone
    assert read_names(results, ["mnist"]) == {"alice": "Early Bird", "bob": "Quiet Fox"}


def test_a_result_without_a_content_hash_has_its_name_read(tmp_path):
    alice = _submission(tmp_path, "alice", "display_name: Night Owl\n")
    results = tmp_path / "results"
    write_names(results, "mnist", [alice], [None])
    (alice / "meta.yaml").write_text("display_name: Early Bird\n")
    write_names(results, "mnist", [alice], [None])
    assert read_names(results, ["mnist"]) == {"alice": "Early Bird"}


def test_the_track_graded_last_gives_the_name(tmp_path):
    alice = _submission(tmp_path, "alice", "display_name: Night Owl\n")
    results = tmp_path / "results"
    write_names(results, "notmnist", [alice], ["a1"])
    (alice / "meta.yaml").write_text("display_name: Early Bird\n")
    write_names(results, "mnist", [alice], ["a2"])
    older = names_path(results, "notmnist").stat().st_mtime_ns - 10**9
    os.utime(names_path(results, "notmnist"), ns=(older, older))
    assert read_names(results, ["mnist", "notmnist"]) == {"alice": "Early Bird"}
    assert read_names(results, ["notmnist"]) == {"alice": "Night Owl"}


def test_a_missing_or_corrupt_file_gives_no_names(tmp_path):
    results = tmp_path / "results"
    assert read_names(results, ["mnist"]) == {}
    names_path(results, "mnist").parent.mkdir(parents=True)
    names_path(results, "mnist").write_text("{not json")
    assert read_names(results, ["mnist"]) == {}
    alice = _submission(tmp_path, "alice", "display_name: Night Owl\n")
    write_names(results, "mnist", [alice], ["a1"])  # a corrupt file is written again, whole
    assert read_names(results, ["mnist"]) == {"alice": "Night Owl"}
