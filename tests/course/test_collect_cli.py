"""`collect`'s usage mistakes: exit status 2 and one line on stderr."""

from __future__ import annotations

import pytest

from tests.course.conftest import DEADLINE


@pytest.mark.parametrize(("course", "arguments", "expected"), [
    (None, ["git"], "params.yaml has no course: section"),
    ({"deadlines": {"mnist": DEADLINE.isoformat()}}, ["git", "--track", "cifar"], "--track cifar: no such track"),
    ({"deadlines": {"mnist": DEADLINE.isoformat()}}, ["git", "--track", "notmnist"],
     "course.deadlines has no deadline for it"),
    ({"deadlines": {"mnist": DEADLINE.isoformat(), "notmnist": DEADLINE.isoformat()}}, ["git"],
     "say whose applies with --track"),
    ({"deadlines": {"cifar": DEADLINE.isoformat()}}, ["git"], "names unknown track(s) ['cifar']"),
    ({}, ["moodle"], "needs the export zip"),
    ({}, ["git", "export.zip"], "collect git takes no file"),
    ({}, ["canvas", "absent.zip"], "absent.zip: not found"),
    ({"roster": "class.csv"}, ["git"], "class.csv: not found; set course.roster"),
])
def test_usage_mistakes_exit_2(project, capsys, course, arguments, expected):
    if course is None:
        project.write_params({})
        params = (project.root / "params.yaml").read_text()
        (project.root / "params.yaml").write_text(params.replace("course: {}\n", ""))
    else:
        project.write_params(course)
    project.write_roster(["student_id", "s1"])
    code, out, err = project.collect(*arguments, capsys=capsys)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and expected in err, err


def test_no_deadline_means_nothing_is_late(project, classroom, capsys):
    classroom.commit("alice", "2030-01-01T00:00:00+00:00", {"model.py": b"def build_model(s, n): pass\n"})
    project.write_params({})
    project.write_roster(["student_id,repo", f"s1,{classroom.url('alice')}"])
    code, out, _ = project.collect("git", capsys=capsys)
    assert code == 0 and project.record("s1")["late"] is False and project.record("s1")["deadline"] is None
