"""What grading takes from the hand-in record: lateness fields, never a reason to re-train."""

from __future__ import annotations

import yaml

from pipeline.grading import fingerprints
from pipeline.grading.cache import ResultCache
from pipeline.grading.submission_facts import describe
from tests.helpers import write_result


def write_record(folder, **fields):
    record = {"source": "git", "commit": "abc123", "lms_file": None, "submitted_at": "2025-03-03T10:00:00+00:00",
              "late": True, "late_days": 2, "penalty": 0.2, **fields}
    (folder / "submission.yaml").write_text(yaml.safe_dump(record))


def test_the_record_is_not_part_of_the_submission_hash(tmp_path):
    folder = tmp_path / "s001"
    folder.mkdir()
    (folder / "model.py").write_text("def build_model(s, n): pass\n")
    without = fingerprints.submission_sha256(folder)
    write_record(folder)
    assert fingerprints.submission_sha256(folder) == without
    (folder / "model.py").write_text("def build_model(s, n): return None\n")
    assert fingerprints.submission_sha256(folder) != without


def test_facts_and_cached_results_follow_the_record(tmp_path):
    folder = tmp_path / "submissions" / "s001"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text("def build_model(s, n): pass\n")
    facts, problem = describe(folder)
    assert problem is None and facts["late"] is False and facts["handin_source"] is None

    write_record(folder)
    facts, _ = describe(folder)
    assert (facts["late"], facts["late_days"], facts["penalty"], facts["handin_commit"]) == (True, 2, 0.2, "abc123")
    assert facts["submitted_at"] == "2025-03-03T10:00:00+00:00" and facts["submitted_at_source"] == "git hand-in"

    # A cached result (graded before an extension) is brought up to date without re-grading.
    results = tmp_path / "results" / "mnist"
    write_result(results, "s001", public=0.9, params=10, late=True, late_days=2, penalty=0.2,
                 handin_source="git", handin_commit="abc123")
    write_record(folder, late=False, late_days=0, penalty=0.0)
    current = ResultCache(results).read_current(folder)
    assert (current.late, current.late_days, current.penalty) == (False, 0, 0.0)
    assert ResultCache(results).read("s001").late is False  # written back
    assert current.public_accuracy == 0.9


def test_collected_lateness_reaches_grades_csv_and_mlflow_tags(project, tmp_path, capsys):
    """collect -> the grader's facts -> results -> leaderboard and grades.csv (scores stand in for training)."""
    import pandas as pd

    from pipeline.config import GradeSettings
    from pipeline.reporting import leaderboard, rubric, run_fields
    from tests.course.conftest import DEADLINE, PENALTY_POLICY, Classroom, model_source

    classroom = Classroom(tmp_path / "classroom")
    on_time = classroom.commit("alice", "2025-03-01T12:00:00+00:00", {"model.py": model_source("alice")})
    late = classroom.commit("bob", "2025-03-03T10:00:00+00:00", {"model.py": model_source("bob")})
    project.write_roster(["student_id,repo", f"s001,{classroom.url('alice')}", f"s002,{classroom.url('bob')}"])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY})
    assert project.collect("git", capsys=capsys)[0] == 0

    results = tmp_path / "results"
    for folder in sorted(project.submissions.iterdir()):
        facts, _ = describe(folder)
        written = write_result(results / "mnist", folder.name, public=0.985, params=10,
                               **{key: value for key, value in facts.items() if key != "submitted_at"})
    assert run_fields.run_tags(written)["late_days"] == "2" and run_fields.run_tags(written)["handin_commit"] == late
    tables = {}
    leaderboard.write_leaderboards(results, ["mnist"], False, tables)
    settings = GradeSettings.model_validate({"bands": {"mnist": [{"min_accuracy": 0.98, "marks": 10}]}})
    rubric.write_grades(results, tables, settings, reveal_private=False)
    grades = pd.read_csv(results / "grades.csv", dtype={"student_id": str}).set_index("student_id")
    assert grades.loc["s001", ["late_days", "penalty", "total", "handin"]].tolist() == [0, 0, 10, on_time]
    assert grades.loc["s002", ["late_days", "penalty", "total", "handin"]].tolist() == [2, 0.2, 8, late]
