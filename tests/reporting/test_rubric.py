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
    assert list(written.columns) == ["student_id", "mnist_marks", "notmnist_marks", "late_days", "penalty", "total",
                                     "handin", "status", "review", "comment"]
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


def test_late_work_is_penalised_in_the_total_and_traced_to_its_hand_in(tmp_path):
    write_result(tmp_path / "mnist", "alice", public=0.985, params=10, student_id="s1", late=True, late_days=2,
                 penalty=0.2, handin_source="git", handin_commit="0cd98e79")
    write_result(tmp_path / "notmnist", "alice", public=0.91, params=10, student_id="s1", late=True, late_days=2,
                 penalty=0.2, handin_source="git", handin_commit="0cd98e79")
    write_result(tmp_path / "mnist", "bob", public=0.95, params=10, student_id="s2", late=True, late_days=1,
                 handin_source="moodle", handin_lms_file="Bob Jones_102_assignsubmission_file_/model.py")
    tables = {}
    leaderboard.write_leaderboards(tmp_path, ["mnist", "notmnist"], False, tables)
    assert tables["mnist"].set_index("submission").loc["alice", "late_days"] == 2
    assert "late_days" in pd.read_csv(tmp_path / "leaderboard.csv").columns
    rubric.write_grades(tmp_path, tables, SETTINGS, reveal_private=False)
    rows = pd.read_csv(tmp_path / "grades.csv", dtype={"student_id": str}).set_index("student_id")
    # alice: 10 + 5 marks, 2 days late at 10 % a day: 15 x 0.8 = 12.
    assert rows.loc["s1", ["mnist_marks", "notmnist_marks", "late_days", "penalty", "total"]].tolist() == \
        [10, 5, 2, 0.2, 12]
    assert rows.loc["s1", "handin"] == "0cd98e79"
    assert "2 day(s) late: 20% off, 15 -> 12 marks" in rows.loc["s1", "comment"]
    # bob: late under an accept policy: flagged, not penalised.
    assert rows.loc["s2", ["late_days", "penalty", "total"]].tolist() == [1, 0, 6]
    assert rows.loc["s2", "handin"] == "Bob Jones_102_assignsubmission_file_/model.py"


MEMORISED = ("review: hidden-test accuracy far above validation "
             "(test 1.0000 on 3,000 images, validation 0.4400 on 1,200)")


def test_a_flagged_result_shows_its_review_on_the_leaderboard_and_in_grades(tmp_path):
    write_result(tmp_path / "mnist", "alice", public=1.0, params=7850, student_id="s1", review=MEMORISED)
    write_result(tmp_path / "mnist", "bob", public=0.95, params=10, student_id="s2")
    write_result(tmp_path / "notmnist", "alice", public=0.91, params=10, student_id="s1")
    tables = {}
    leaderboard.write_leaderboards(tmp_path, ["mnist", "notmnist"], False, tables)
    board = pd.read_csv(tmp_path / "leaderboard.csv", keep_default_na=False)
    reviews = board.set_index(["track", "submission"])["review"].to_dict()
    assert reviews == {("mnist", "alice"): MEMORISED, ("mnist", "bob"): "", ("notmnist", "alice"): ""}
    markdown = (tmp_path / "leaderboard.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| rank"))
    assert "review" in [cell.strip() for cell in header.split("|")] and MEMORISED in markdown
    rubric.write_grades(tmp_path, tables, SETTINGS, reveal_private=False)
    grades = pd.read_csv(tmp_path / "grades.csv", dtype={"student_id": str}, keep_default_na=False)
    rows = grades.set_index("student_id")
    assert rows.loc["s1", "review"] == f"mnist: {MEMORISED}"
    assert rows.loc["s2", "review"] == ""
    # The flag is for a person to review: the marks are the bands' own.
    assert rows.loc["s1", "mnist_marks"] == 10


def test_marks_for_band_edges():
    bands = SETTINGS.bands["mnist"]
    assert rubric.marks_for(0.98, bands, 0)[0] == 10  # a threshold is reached when equalled
    assert rubric.marks_for(0.9799, bands, 0)[0] == 6
    assert rubric.marks_for(0.90, bands, 0)[0] == 2.5
    assert rubric.marks_for(None, bands, 1)[0] == 1
