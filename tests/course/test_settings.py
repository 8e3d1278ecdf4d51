"""The course: section of params.yaml, and the late-policy arithmetic."""

from __future__ import annotations

import datetime

import pytest
import yaml

from pipeline.config import ConfigError, load_params
from pipeline.course import deadlines
from pipeline.handin_record import read_submission_record
from pipeline.course_settings import CourseSettings, PenaltyLate, RejectLate
from tests.course.conftest import DEADLINE, REPO

UTC = datetime.timezone.utc


def params_with(tmp_path, course_yaml: str):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text() + "\ncourse:\n" + course_yaml)
    return load_params(path)


def test_repo_params_need_no_course():
    assert load_params(REPO / "params.yaml").course is None


def test_course_section_parses(tmp_path):
    course = params_with(tmp_path, "  deadlines: {mnist: 2025-03-01T17:00:00+01:00}\n"
                                   "  late_policy: {kind: penalty, percent_per_day: 5, max_days: 3}\n"
                                   "  extensions: {s001: '2025-03-03T17:00:00Z'}\n").course
    assert course.deadlines["mnist"] == datetime.datetime(2025, 3, 1, 16, 0, tzinfo=UTC)
    assert course.late_policy == PenaltyLate(kind="penalty", percent_per_day=5, max_days=3)
    assert course.deadline("mnist", "s001") == datetime.datetime(2025, 3, 3, 17, 0, tzinfo=UTC)
    assert course.deadline("mnist", "s002") == course.deadlines["mnist"]
    assert course.deadline(None, "s002") is None


@pytest.mark.parametrize(("course_yaml", "expected"), [
    ("  deadlines: {mnist: 2025-03-01T17:00:00}\n", "has no time zone"),
    ("  deadlines: {mnist: '2025-03-01 17:00'}\n", "has no time zone"),
    ("  deadlines: {mnist: 2025-03-01}\n", "a date without a time and time zone"),
    ("  late_polcy: {kind: accept}\n", "course.late_polcy: unknown key"),
    ("  late_policy: {kind: penalty, percent_per_day: 10}\n", "course.late_policy.penalty.max_days: required"),
    ("  late_policy: {kind: forgive}\n", "course.late_policy"),
    ("  max_file_mb: 0\n", "course.max_file_mb"),
])
def test_course_mistakes_are_named(tmp_path, course_yaml, expected):
    with pytest.raises(ConfigError, match="problem") as caught:
        params_with(tmp_path, course_yaml)
    assert expected in str(caught.value)


def test_started_days_and_penalties():
    policy = PenaltyLate(kind="penalty", percent_per_day=10, max_days=3)
    second = datetime.timedelta(seconds=1)
    day = datetime.timedelta(days=1)
    assert deadlines.assess(DEADLINE, DEADLINE, policy) == deadlines.ON_TIME
    assert deadlines.assess(DEADLINE + second, DEADLINE, policy) == deadlines.Lateness(True, 1, 0.1, True)
    assert deadlines.assess(DEADLINE + day, DEADLINE, policy) == deadlines.Lateness(True, 1, 0.1, True)
    assert deadlines.assess(DEADLINE + day + second, DEADLINE, policy) == deadlines.Lateness(True, 2, 0.2, True)
    assert deadlines.assess(DEADLINE + 3 * day, DEADLINE, policy) == deadlines.Lateness(True, 3, 0.3, True)
    assert deadlines.assess(DEADLINE + 3 * day + second, DEADLINE, policy).accepted is False
    assert deadlines.assess(DEADLINE + 20 * day, DEADLINE, PenaltyLate(kind="penalty", percent_per_day=30,
                                                                       max_days=30)).penalty == 1.0
    reject = RejectLate(kind="reject", after_days=0)
    assert deadlines.assess(DEADLINE + second, DEADLINE, reject) == deadlines.Lateness(True, 1, 0.0, False)
    accept = CourseSettings().late_policy
    assert deadlines.assess(DEADLINE + 99 * day, DEADLINE, accept) == deadlines.Lateness(True, 99, 0.0, True)
    assert deadlines.assess(DEADLINE + day, None, accept) == deadlines.ON_TIME


def test_read_submission_record(tmp_path):
    assert read_submission_record(tmp_path) is None
    (tmp_path / "submission.yaml").write_text(yaml.safe_dump({
        "source": "canvas", "commit": None, "lms_file": "a_1_2_model.py", "submitted_at": "2025-03-02T10:00:00+00:00",
        "late": True, "late_days": 1, "penalty": 0.1, "files": {}}))
    assert read_submission_record(tmp_path) == {
        "source": "canvas", "commit": None, "lms_file": "a_1_2_model.py", "submitted_at": "2025-03-02T10:00:00+00:00",
        "late": True, "late_days": 1, "penalty": 0.1}
    (tmp_path / "submission.yaml").write_text("late_days: [oops\n")
    assert read_submission_record(tmp_path) is None
