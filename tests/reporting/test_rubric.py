"""Rubric bands -> grades.csv: one LMS row per student, failures included, baselines left out."""

import pandas as pd

from pipeline.reporting import leaderboard, rubric
from pipeline.config import GradeSettings
from tests.helpers import write_result

SETTINGS = GradeSettings.model_validate({
    "bands": {"mnist": [{"min_accuracy": 0.98, "marks": 10}, {"min_accuracy": 0.95, "marks": 6},
                        {"min_accuracy": 0.90, "marks": 2.5}],
              "notmnist": [{"min_accuracy": 0.90, "marks": 5}]},
    "failed_marks": 0,
})


def ranked_tables(tmp_path, reveal_private=False):
    write_result(tmp_path / "mnist", "alice", public=0.985, private=0.94, params=10, student_id="s1")
    write_result(tmp_path / "mnist", "bob", public=0.95, private=0.99, params=10, student_id="s2")
    write_result(tmp_path / "mnist", "carol", status="timeout", error="ran longer than 60 s", student_id="s3")
    write_result(tmp_path / "mnist", "dave", public=0.50, params=10, student_id="s4")
    write_result(tmp_path / "mnist", "ref", public=0.99, params=10, baseline=True)
    write_result(tmp_path / "notmnist", "alice", public=0.91, params=10, student_id="s1")
    write_result(tmp_path / "notmnist", "bob", public=0.80, params=10, student_id="s2")
    tables = {}
    leaderboard.write_leaderboards(tmp_path, ["mnist", "notmnist"], reveal_private, tables)
    return tables


def test_bands_give_marks_and_failures_are_listed(tmp_path):
    grades = rubric.write_grades(tmp_path, ranked_tables(tmp_path), SETTINGS, reveal_private=False)
    written = pd.read_csv(tmp_path / "grades.csv", dtype={"student_id": str})
    assert list(written.columns) == ["student_id", "mnist_marks", "notmnist_marks", "total", "status", "comment"]
    rows = written.set_index("student_id")
    assert rows.index.tolist() == ["s1", "s2", "s3", "s4"]  # the baseline is not a student
    assert rows.loc["s1", ["mnist_marks", "notmnist_marks", "total"]].tolist() == [10, 5, 15]
    assert rows.loc["s2", ["mnist_marks", "notmnist_marks", "total"]].tolist() == [6, 0, 6]
    assert rows.loc["s3", "status"] == "timeout" and rows.loc["s3", "total"] == 0
    assert "ran longer than 60 s" in rows.loc["s3", "comment"]
    assert rows.loc["s4", "status"] == "ok" and "below every band" in rows.loc["s4", "comment"]
    assert "public (provisional) accuracy 0.9850, band >= 0.98: 10 marks" in rows.loc["s1", "comment"]
    assert len(grades) == 4


def test_revealed_grades_use_the_private_part(tmp_path):
    rows = rubric.grade_table(ranked_tables(tmp_path, reveal_private=True), SETTINGS, True).set_index("student_id")
    assert rows.loc["s1", "mnist_marks"] == 2.5  # private 0.94 reaches only the 0.90 band
    assert rows.loc["s2", "mnist_marks"] == 10  # private 0.99
    assert "private accuracy" in rows.loc["s2", "comment"] and "provisional" not in rows.loc["s2", "comment"]


def test_marks_for_band_edges():
    bands = SETTINGS.bands["mnist"]
    assert rubric.marks_for(0.98, bands, 0)[0] == 10  # a threshold is reached when equalled
    assert rubric.marks_for(0.9799, bands, 0)[0] == 6
    assert rubric.marks_for(0.90, bands, 0)[0] == 2.5
    assert rubric.marks_for(None, bands, 1)[0] == 1
