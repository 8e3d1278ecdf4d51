"""`collect git`: a classroom of local repositories with commits either side of the deadline."""

from __future__ import annotations

import shutil

import pytest

from pipeline.course.collect import WriteRefused, write_submission
from tests.course.conftest import DEADLINE, PENALTY_POLICY, Classroom, git, model_source

ON_TIME_1 = "2025-02-28T12:00:00+00:00"
ON_TIME_2 = "2025-03-01T16:59:00+00:00"
LATE_2_DAYS = "2025-03-03T10:00:00+00:00"  # 1 day 17 h late: 2 started days
BEYOND_5_DAYS = "2025-03-10T09:00:00+00:00"


@pytest.fixture(scope="module")
def built_classroom(tmp_path_factory):
    """Eight students' repositories, one per behaviour, built once and copied for each test."""
    classroom = Classroom(tmp_path_factory.mktemp("classroom") / "classroom")
    classroom.commit("alice", ON_TIME_1, {"model.py": model_source("alice v1"), "README.md": b"hi\n"})
    classroom.commit("alice", ON_TIME_2, {"model.py": model_source("alice v2"), "meta.yaml": b"student_id: s001\n"})
    classroom.commit("bob", ON_TIME_1, {"model.py": model_source("bob v1")})
    classroom.commit("bob", LATE_2_DAYS, {"model.py": model_source("bob v2"), "meta.yaml": b"baseline: true\n"})
    classroom.commit("carol", ON_TIME_1, {"README.md": b"forgot the model\n"})
    classroom.commit("erin", ON_TIME_1, {"model.py": model_source("erin v1")})
    classroom.commit("erin", BEYOND_5_DAYS, {"model.py": model_source("erin v2")})
    classroom.commit("frank", BEYOND_5_DAYS, {"model.py": model_source("frank v1")})
    classroom.commit("gail", "2025-03-02T12:00:00+00:00", {"model.py": model_source("gail v1")})
    classroom.commit("hank", ON_TIME_1, {"real.py": model_source("hank")}, symlinks={"model.py": "/etc/passwd"})
    return classroom


@pytest.fixture
def course(project, built_classroom, tmp_path):
    """The classroom (a private copy) and a project whose roster lists it, plus two more students."""
    classroom = Classroom(tmp_path / "classroom")
    shutil.copytree(built_classroom.root, classroom.root, symlinks=True)
    classroom.shas = {name: list(shas) for name, shas in built_classroom.shas.items()}
    for work in classroom.work.iterdir():  # the copies push to their own remotes
        git(["remote", "set-url", "origin", classroom.url(work.name)], work)
    project.write_roster([
        "student_id,display_name,repo,lms_name",
        f"s001,Student 1,{classroom.url('alice')},Alice Smith",
        f"s002,Student 2,{classroom.url('bob')},",
        f"s003,,{classroom.url('carol')},",
        f"s004,,{(classroom.root / 'nowhere.git').as_uri()},",
        f"s005,,{classroom.url('erin')},",
        f"s006,,{classroom.url('frank')},",
        f"s007,,{classroom.url('gail')},",
        f"s008,,{classroom.url('hank')},",
        "s009,,,",
    ])
    project.write_params({"roster": "roster.csv", "deadlines": {"mnist": DEADLINE.isoformat()},
                          "late_policy": PENALTY_POLICY,
                          "extensions": {"s007": "2025-03-04T17:00:00+00:00"}})
    return classroom


def test_collects_each_student_by_the_deadline(project, course, capsys):
    classroom = course
    code, out, err = project.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0, err
    submissions = project.submissions

    # On time: the last commit before the deadline, with the student's own meta.yaml.
    assert (submissions / "s001" / "model.py").read_bytes() == model_source("alice v2")
    assert (submissions / "s001" / "meta.yaml").read_bytes() == b"student_id: s001\n"
    assert not (submissions / "s001" / "README.md").exists()
    alice = project.record("s001")
    assert alice["commit"] == classroom.shas["alice"][-1]
    assert alice["source"] == "git" and alice["submitted_at"] == "2025-03-01T16:59:00+00:00"
    assert (alice["late"], alice["late_days"], alice["penalty"]) == (False, 0, 0.0)

    # Late: the later commit is taken and flagged, 2 started days at 10 % each; meta.yaml's
    # claim to be a baseline is not copied.
    assert (submissions / "s002" / "model.py").read_bytes() == model_source("bob v2")
    assert not (submissions / "s002" / "meta.yaml").exists()
    bob = project.record("s002")
    assert bob["commit"] == classroom.shas["bob"][-1]
    assert (bob["late"], bob["late_days"], bob["penalty"]) == (True, 2, 0.2)
    assert "baseline: true" in out

    # Beyond max_days: the newest commit within the policy is taken instead, or nothing.
    assert (submissions / "s005" / "model.py").read_bytes() == model_source("erin v1")
    assert project.record("s005")["commit"] == classroom.shas["erin"][0]
    assert not (submissions / "s006").exists()

    # An extension moves the deadline for that student only.
    assert project.record("s007")["late"] is False
    assert project.record("s007")["deadline"] == "2025-03-04T17:00:00+00:00"

    # No model file, unreachable, a symlinked model.py, no repo: reported and skipped.
    for student_id in ("s003", "s004", "s008", "s009"):
        assert not (submissions / student_id).exists()
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  s0")}
    assert "skipped" in lines["s003"] and "no model.py" in lines["s003"]
    assert "skipped" in lines["s004"] and "cannot clone" in lines["s004"]
    assert "skipped" in lines["s008"] and "symbolic link" in lines["s008"]
    assert "rejected" in lines["s006"]
    assert "late" in lines["s002"] and "2 day(s) late, penalty 20%" in lines["s002"]
    assert ("collect git: 4 collected (0 of them updated), 0 unchanged, 1 late, 1 rejected, 4 skipped"
            in out)
    assert sorted(path.name for path in submissions.iterdir()) == ["s001", "s002", "s005", "s007"]
    assert (project.root / ".gradebench" / "repos" / "s001" / "HEAD").is_file()


def test_second_collect_changes_nothing_and_a_new_commit_replaces(project, course, capsys):
    classroom = course
    project.collect("git", "--track", "mnist", capsys=capsys)
    before = project.snapshot()

    code, out, _ = project.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    assert project.snapshot() == before  # bytes and mtimes
    assert "0 collected (0 of them updated), 4 unchanged" in out

    # Alice pushes again before the deadline (fetched into the cache): only her folder changes,
    # and her meta.yaml, gone from the new commit, goes from the folder too.
    new_sha = classroom.commit("alice", "2025-03-01T16:59:30+00:00",
                               {"model.py": model_source("alice v3"), "meta.yaml": None})
    code, out, _ = project.collect("git", "--track", "mnist", capsys=capsys)
    after = project.snapshot()
    assert "1 collected (1 of them updated), 3 unchanged" in out
    assert project.record("s001")["commit"] == new_sha
    assert after["s001/model.py"][1] == model_source("alice v3")
    assert "s001/meta.yaml" not in after
    assert {name: value for name, value in after.items() if not name.startswith("s001/")} == \
        {name: value for name, value in before.items() if not name.startswith("s001/")}
    assert not list(project.submissions.rglob("*.partial"))


def test_leaves_folders_it_did_not_make(project, course, capsys):
    # A reference baseline (or a hand-placed folder) with a roster student's name is not overwritten.
    hand_made = project.submissions / "s001"
    hand_made.mkdir()
    (hand_made / "model.py").write_bytes(b"# placed by hand\n")
    code, out, _ = project.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    assert (hand_made / "model.py").read_bytes() == b"# placed by hand\n"
    assert "was not made by collect" in out


def test_never_writes_through_symbolic_links(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (project.submissions / "s001").symlink_to(outside, target_is_directory=True)
    with pytest.raises(WriteRefused, match="symbolic link"):
        write_submission(project.submissions, "s001", {"model.py": b"x", "submission.yaml": b"y"})
    folder = project.submissions / "s002"
    folder.mkdir()
    (folder / "submission.yaml").write_bytes(b"old")
    (folder / "model.py").symlink_to(outside / "target.py")
    with pytest.raises(WriteRefused, match="symbolic link"):
        write_submission(project.submissions, "s002", {"model.py": b"x", "submission.yaml": b"y"})
    with pytest.raises(WriteRefused, match="not a safe folder name"):
        write_submission(project.submissions, "..", {"model.py": b"x"})
    assert list(outside.iterdir()) == []
