"""roster.csv: every bad line gets one message naming its line number."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.course.roster import RosterError, load_roster
from tests.course.conftest import DEADLINE, REPO


def write(tmp_path, text: str):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_optional_columns(tmp_path):
    path = write(tmp_path, "\ufeffstudent_id,display_name,repo,lms_name\n"
                           "s001,Student 1,https://github.com/c/a.git,Alice Smith\n\ns002,,,\n")
    students = load_roster(path)
    assert [(s.student_id, s.display_name, s.repo, s.lms_name, s.line) for s in students] == [
        ("s001", "Student 1", "https://github.com/c/a.git", "Alice Smith", 2), ("s002", None, None, None, 4)]


def test_every_problem_is_named_by_line(tmp_path):
    path = write(tmp_path, "student_id,lms_name\n"
                           "s001,Alice Smith\n"
                           "s002,Bob,extra\n"  # line 3: too many fields
                           "s001,Someone\n"  # line 4: duplicate id
                           "../etc,Eve\n"  # line 5: unsafe folder name
                           "a b,Spacey\n"  # line 6: unsafe folder name
                           ",Nobody\n"  # line 7: no id
                           "s007,alice  SMITH\n")  # line 8: the same LMS name as line 2
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    message = str(caught.value)
    assert "has 6 problem(s)" in message
    assert f"{path}:3: 3 field(s), expected 2" in message
    assert f"{path}:4: student_id 's001' is already on line 2" in message
    assert f"{path}:5: student_id '../etc' is not a safe folder name" in message
    assert f"{path}:6: student_id 'a b' is not a safe folder name" in message
    assert f"{path}:7: student_id '' is not a safe folder name" in message
    assert f"{path}:8: lms_name 'alice  SMITH' matches line 2's" in message


def test_header_problems(tmp_path):
    with pytest.raises(RosterError, match=r"roster.csv:1: unknown column\(s\) \['email'\]"):
        load_roster(write(tmp_path, "student_id,email\ns1,a@b\n"))
    with pytest.raises(RosterError, match=r"missing column\(s\) \['student_id'\]"):
        load_roster(write(tmp_path, "lms_name\nAlice\n"))
    with pytest.raises(RosterError, match="not found; set course.roster"):
        load_roster(tmp_path / "absent.csv")


def test_cli_reports_a_bad_roster_in_one_line_without_traceback(project, capsys):
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}})
    project.write_roster(["student_id", "s1", "s1"])
    completed = subprocess.run([sys.executable, "-m", "pipeline", "collect", "git"], cwd=project.root,
                               capture_output=True, text=True, timeout=120,
                               env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "roster.csv:3: student_id 's1' is already on line 2" in completed.stderr
