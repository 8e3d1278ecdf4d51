"""`collect git` on histories as students leave them: GitHub Classroom's starter commit, dates set by
hand, amended and force-pushed history. Real repositories, pushed to bare remotes."""

from __future__ import annotations

import pytest
import yaml

from tests.course.conftest import CLASSROOM_BOT, DEADLINE, PENALTY_POLICY, model_source

STUB = b'"""Starter code: write build_model here."""\n\n\ndef build_model(input_shape, num_classes):\n    raise NotImplementedError\n'
TEMPLATE_FILES = {"model.py": STUB, "README.md": b"# HW1\n"}
CREATED = "2025-02-20T09:00:00+00:00"  # when the instructor published the assignment
ON_TIME = "2025-03-01T16:00:00+00:00"
LATE_2_DAYS = "2025-03-03T10:00:00+00:00"
BEYOND = "2025-03-10T09:00:00+00:00"


def start_from_template(classroom, name: str) -> str:
    """The repository GitHub Classroom makes for a student: one commit of the template's files by its bot."""
    return classroom.commit(name, CREATED, dict(TEMPLATE_FILES), author=CLASSROOM_BOT)


def roster(project, classroom, names: list[str]) -> None:
    project.write_roster(["student_id,repo", *(f"s{index + 1:03d},{classroom.url(name)}"
                                               for index, name in enumerate(names))])


def summary_lines(out: str) -> dict[str, list[str]]:
    """Student id -> its summary line and the lines under it."""
    lines: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("  s"):
            current = line.split()[0]
            lines[current] = [line]
        elif line.startswith("   ") and current:
            lines[current].append(line.strip())
        else:
            current = None
    return lines


@pytest.fixture
def course(project):
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY})
    return project


def test_starter_code_is_not_a_hand_in(course, classroom, capsys):
    classroom.commit("template", CREATED, dict(TEMPLATE_FILES))
    never = start_from_template(classroom, "never-pushed")
    start_from_template(classroom, "worked")
    worked = classroom.commit("worked", ON_TIME, {"model.py": model_source("mine")})
    start_from_template(classroom, "only-late")
    start_from_template(classroom, "re-imported")  # the student committed the template's files again
    classroom.commit("re-imported", ON_TIME, {"README.md": b"# HW1\n\nnotes\n"})
    reimported = classroom.commit("re-imported", ON_TIME.replace("16:00", "16:30"), {"README.md": b"# HW1\n"})
    late = classroom.commit("only-late", BEYOND, {"model.py": model_source("too late")})
    roster(course, classroom, ["never-pushed", "worked", "only-late", "re-imported"])
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY,
                         "template": {"repo": classroom.url("template")}})

    code, out, err = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0, err
    lines = summary_lines(out)
    assert lines["s001"] == [f"  s001  no hand-in        only GitHub Classroom's starter code: {never[:10]} by "
                             f"github-classroom[bot]; nothing of the student's own"]
    assert lines["s002"] == [f"  s002  collected         commit {worked[:10]} at 2025-03-01T16:00:00+00:00, on time"]
    assert (course.submissions / "s002" / "model.py").read_bytes() == model_source("mine")
    # Only work past the window: rejected, never the stub instead.
    assert lines["s003"] == [f"  s003  rejected          every commit of the student's is past the late policy's "
                             f"last day 2025-03-06T17:00:00+00:00 (newest {late[:10]} at 2025-03-10T09:00:00+00:00, "
                             f"9 day(s) late)"]
    # The student's own commit whose files are the template's exactly is starter code too; the one
    # before it (README changed) is the student's, but its model.py is still the stub: collected.
    assert reimported[:10] not in out
    assert course.record("s004")["commit"] == classroom.shas["re-imported"][1]
    assert sorted(path.name for path in course.submissions.iterdir()) == ["s002", "s004"]
    assert "0 rejected" not in out and "1 with no hand-in" in out


def test_bot_commits_are_recognised_without_a_template(course, classroom, capsys):
    starter = start_from_template(classroom, "alice")
    roster(course, classroom, ["alice"])
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    assert f"  s001  no hand-in        only GitHub Classroom's starter code: {starter[:10]} by github-classroom[bot]" in out


def test_commit_dated_before_its_parent_is_collected_and_flagged(course, classroom, capsys):
    start_from_template(classroom, "bob")
    first = classroom.commit("bob", LATE_2_DAYS, {"model.py": model_source("bob v1")})
    # The newest commit claims an earlier date than its own parent.
    newest = classroom.commit("bob", ON_TIME, {"model.py": model_source("bob v2")})
    roster(course, classroom, ["bob"])
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    check = (f"check: commit {newest[:10]} is dated 2025-03-01T16:00:00+00:00, before its parent {first[:10]} "
             f"(2025-03-03T10:00:00+00:00): a date set by hand or a wrong clock")
    assert summary_lines(out)["s001"] == [
        f"  s001  collected         commit {newest[:10]} at 2025-03-01T16:00:00+00:00, on time", check]
    assert course.record("s001")["commit"] == newest
    assert course.record("s001")["checks"] == [check]
    assert out.rstrip().endswith("1 to check")


def test_amended_and_force_pushed_history_is_never_a_silent_change(course, classroom, capsys):
    start_from_template(classroom, "carol")
    late = classroom.commit("carol", LATE_2_DAYS, {"model.py": model_source("carol")})
    roster(course, classroom, ["carol"])
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert course.record("s001")["late_days"] == 2 and course.record("s001")["checks"] == []
    seen = yaml.safe_load((course.root / ".gradebench" / "repos" / "s001" / "gradebench-last-collect.yaml").read_text())
    assert seen["tip"] == late

    # She amends the late commit with a date before the deadline and force-pushes.
    amended = classroom.commit("carol", ON_TIME, {"model.py": model_source("carol")}, amend=True)
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    rewritten = (f"check: history rewritten since the last collect: {late[:10]} (collected then, 2 day(s) late, "
                 f"penalty 20%) is no longer on the branch; {amended[:10]} collected now (on time)")
    record = course.record("s001")
    assert record["commit"] == amended and record["late"] is False
    assert rewritten in record["checks"]
    assert record["checks"] == [
        f"check: 1 commit(s) dated before the deadline were not on the branch at the last collect "
        f"({seen['collected_at']}, after the deadline): {amended[:10]} (2025-03-01T16:00:00+00:00): pushed after the "
        f"date they claim", rewritten]
    assert rewritten in summary_lines(out)["s001"]

    # The next collect keeps the rewrite on the record (and changes nothing).
    before = course.snapshot()
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert course.snapshot() == before
    assert course.record("s001")["checks"] == record["checks"]
    assert rewritten in summary_lines(out)["s001"] and "unchanged" in summary_lines(out)["s001"][0]


def test_commit_dates_in_the_future(course, classroom, capsys):
    start_from_template(classroom, "dan")
    future = classroom.commit("dan", "2099-01-01T00:00:00+00:00", {"model.py": model_source("dan")})
    roster(course, classroom, ["dan"])
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": {"kind": "accept"}})
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    assert course.record("s001")["checks"] == [
        f"check: 1 commit(s) dated after this collect: {future[:10]} (2099-01-01T00:00:00+00:00): a date set by "
        f"hand or a wrong clock"]


def test_template_commit_without_a_repository_is_looked_up_in_each_repository(course, classroom, capsys):
    # Starter code pushed by the instructor (not Classroom's bot): named by its commit in course.template.
    starter = classroom.commit("erin", CREATED, dict(TEMPLATE_FILES), author=("Instructor", "teacher@example.org"))
    roster(course, classroom, ["erin"])
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "template": {"commit": starter}})
    code, out, _ = course.collect("git", "--track", "mnist", capsys=capsys)
    assert code == 0
    assert (f"  s001  no hand-in        only GitHub Classroom's starter code: {starter[:10]} (the template's files "
            f"exactly); nothing of the student's own") in out.splitlines()


def test_unreachable_template_is_a_usage_error(course, classroom, capsys):
    start_from_template(classroom, "finn")
    roster(course, classroom, ["finn"])
    missing = classroom.root / "no-template.git"
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "template": {"repo": missing.as_uri()}})
    code, out, err = course.collect("git", "--track", "mnist", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: course.template.repo: cannot clone {missing.as_uri()}: fatal: ") and len(err.splitlines()) == 1
