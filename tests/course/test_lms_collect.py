"""`collect moodle` and `collect canvas`: real export zips with the awkward cases in them."""

from __future__ import annotations

import datetime
import json
import struct
import zipfile

import pytest

from tests.course.conftest import DEADLINE, PENALTY_POLICY, model_source, zip_entry

MOODLE = "_assignsubmission_file_"


def rename_in_place(path, placeholder: str, raw_name: bytes) -> None:
    """Put raw name bytes where an ASCII placeholder was, leaving the UTF-8 flag unset: zipfile
    itself would set the flag for any name that is not ASCII, as older tools do not."""
    data = path.read_bytes()
    assert len(placeholder) == len(raw_name) and data.count(placeholder.encode()) == 2
    path.write_bytes(data.replace(placeholder.encode(), raw_name))


@pytest.fixture
def course(project):
    project.write_roster([
        "student_id,display_name,repo,lms_name",
        "s001,,,Alice Smith",
        "s002,,,Bob Jones",
        "s003,,,Carol Kim",
        "s004,,,José Núñez",
        "s005,,,Hans Müller",
        "s006,,,Big Files",
        "s007,,,Quiet Student",
    ])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY,
                          "max_file_mb": 1})
    return project


@pytest.fixture
def moodle_zip(tmp_path):
    path = tmp_path / "moodle-export.zip"
    jose, hans = "José Núñez".encode("utf-8"), "Hans Müller".encode("cp437")
    with zipfile.ZipFile(path, "w") as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/model.py", model_source("alice"), (2025, 3, 1, 16, 0, 0))
        zip_entry(archive, f"Alice Smith_101{MOODLE}/notes.txt", b"my notes\n")
        zip_entry(archive, f"Alice Smith_101{MOODLE}/meta.yaml", b"student_id: s001\n", (2025, 3, 1, 15, 0, 0))
        zip_entry(archive, f"Bob Jones_102{MOODLE}/model.py", model_source("bob"), (2025, 3, 2, 18, 0, 0))
        zip_entry(archive, f"Carol Kim_103{MOODLE}/model.py", b"/etc/passwd", symlink=True)
        # Names that are not ASCII and carry no UTF-8 flag: UTF-8 bytes (macOS, 7-Zip) and cp437
        # bytes (an old Windows tool).
        zip_entry(archive, f"{'Q' * len(jose)}_104{MOODLE}/model.py", model_source("jose"))
        zip_entry(archive, f"{'W' * len(hans)}_105{MOODLE}/model.py", model_source("hans"))
        zip_entry(archive, f"Big Files_106{MOODLE}/model.py", b"#" * (2 * 2**20))
        zip_entry(archive, f"Zed Unknown_199{MOODLE}/model.py", model_source("zed"))
        zip_entry(archive, "../../evil.py", b"import os\n")
        zip_entry(archive, "/etc/cron.d/evil", b"* * * * * root true\n")
    rename_in_place(path, "Q" * len(jose), jose)
    rename_in_place(path, "W" * len(hans), hans)
    return path


def test_moodle_export(course, moodle_zip, capsys):
    code, out, err = course.collect("moodle", str(moodle_zip), "--track", "mnist", capsys=capsys)
    assert code == 0, err
    submissions = course.submissions
    assert sorted(path.name for path in submissions.iterdir()) == ["s001", "s002", "s004", "s005"]
    assert sorted(path.name for path in (submissions / "s001").iterdir()) == ["meta.yaml", "model.py", "submission.yaml"]
    assert (submissions / "s001" / "model.py").read_bytes() == model_source("alice")

    alice = course.record("s001")
    assert alice["source"] == "moodle" and alice["commit"] is None
    assert alice["lms_file"] == f"Alice Smith_101{MOODLE}/model.py"
    assert alice["submitted_at"] == "2025-03-01T16:00:00+00:00" and alice["late"] is False
    bob = course.record("s002")  # 25 hours late: 2 started days
    assert (bob["late"], bob["late_days"], bob["penalty"]) == (True, 2, 0.2)

    # Names that are not ASCII: UTF-8 without the flag, and genuine cp437.
    assert (submissions / "s004" / "model.py").read_bytes() == model_source("jose")
    assert course.record("s004")["lms_name"] == "José Núñez"
    assert (submissions / "s005" / "model.py").read_bytes() == model_source("hans")
    assert course.record("s005")["lms_name"] == "Hans Müller"
    with zipfile.ZipFile(moodle_zip) as archive:
        assert not any(info.flag_bits & 0x800 for info in archive.infolist())

    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  s0")}
    assert "skipped" in lines["s003"] and "symbolic link" in lines["s003"]
    assert "skipped" in lines["s006"] and "cap" in lines["s006"]
    assert "no hand-in" in lines["s007"]
    assert "unmatched: Zed Unknown (199)" in out
    assert "refused: ../../evil.py: path leaves the folder" in out
    assert "refused: /etc/cron.d/evil: absolute path" in out
    assert not (course.root / "evil.py").exists() and not (course.root.parent / "evil.py").exists()

    before = course.snapshot()
    code, out, _ = course.collect("moodle", str(moodle_zip), "--track", "mnist", capsys=capsys)
    assert code == 0 and course.snapshot() == before
    assert "0 collected (0 of them updated), 4 unchanged, 1 late" in out


def extended_timestamp(moment: datetime.datetime) -> bytes:
    return struct.pack("<HHBi", 0x5455, 5, 1, int(moment.timestamp()))


# Canvas's "Download submissions" zip is written by rubyzip when the instructor asks for it: every
# entry carries that moment (DOS time and the UTC extended timestamp), never the submission time.
EXPORTED_AT = datetime.datetime(2025, 3, 3, 9, 12, tzinfo=datetime.timezone.utc)  # ~2 days after the deadline
EXPORT_DOS_TIME = (2025, 3, 3, 9, 12, 0)


def canvas_entry(archive, name: str, data: bytes, **options) -> None:
    zip_entry(archive, name, data, EXPORT_DOS_TIME, extra=extended_timestamp(EXPORTED_AT), **options)


@pytest.fixture
def canvas_zip(tmp_path):
    path = tmp_path / "canvas-submissions.zip"
    with zipfile.ZipFile(path, "w") as archive:
        canvas_entry(archive, "smithalice_201_9001_model.py", model_source("alice v1"))
        canvas_entry(archive, "smithalice_201_9002_model-1.py", model_source("alice v2"))
        canvas_entry(archive, "smithalice_201_9003_model-2.py", model_source("alice v3"))
        canvas_entry(archive, "jonesbob_LATE_202_9010_model.py", model_source("bob"))
        canvas_entry(archive, "kimcarol_203_9020_model.py", b"../../../../etc/passwd", symlink=True)
        canvas_entry(archive, "nobody_299_9030_model.py", model_source("nobody"))
        canvas_entry(archive, "../evil_1_2_model.py", b"import os\n")
    return path


def submissions_api_json(tmp_path, items: list[dict]):
    """The Submissions API's answer saved to a file, as `curl .../submissions?per_page=100 > x.json` does."""
    base = {"assignment_id": 7001, "attempt": 1, "workflow_state": "submitted", "submission_type": "online_upload",
            "missing": False, "excused": None, "late_policy_status": None, "points_deducted": None}
    path = tmp_path / "submissions.json"
    path.write_text(json.dumps([{**base, **item} for item in items]))
    return path


def test_canvas_export_time_is_never_the_submission_time(course, canvas_zip, capsys):
    # Exported two days after the deadline: only Bob, whom Canvas marked LATE, is late.
    code, out, err = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0, err
    submissions = course.submissions
    assert sorted(path.name for path in submissions.iterdir()) == ["s001", "s002"]
    assert (submissions / "s001" / "model.py").read_bytes() == model_source("alice v3")
    alice = course.record("s001")
    assert alice["lms_file"] == "smithalice_201_9003_model-2.py"
    assert (alice["submitted_at"], alice["late"], alice["late_days"], alice["penalty"]) == (None, False, 0, 0.0)
    # LATE without Canvas's times: late, days unknown, the policy applied to 1 day (10 %).
    bob = course.record("s002")
    assert (bob["lms_late"], bob["late"], bob["late_days"], bob["penalty"]) == (True, True, None, 0.1)
    lines = out.splitlines()
    assert ("times: Canvas's LATE marks decide late or on time; days late unknown (give --times with Canvas's "
            "submission times to count them)") in lines
    assert "  s002  collected, late   jonesbob_LATE_202_9010_model.py, late, days unknown (counted as 1), penalty 10%" in lines
    assert ("                          warning: Canvas marked it LATE; days late unknown without --times: the "
            "policy counts 1 day") in lines
    assert "unmatched: nobody (299): not on the roster" in lines
    assert "refused: ../evil_1_2_model.py: path leaves the folder ('..', zip-slip): refused" in lines
    assert "refused: kimcarol_203_9020_model.py: symbolic link: refused" in lines

    before = course.snapshot()
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0 and course.snapshot() == before


def test_canvas_days_late_come_from_the_submissions_api(course, canvas_zip, tmp_path, capsys):
    times = submissions_api_json(tmp_path, [
        {"user_id": 201, "submitted_at": "2025-03-01T16:30:00Z", "late": False, "seconds_late": 0},
        {"user_id": 202, "submitted_at": "2025-03-04T18:00:00Z", "late": True, "seconds_late": 262800},
    ])
    code, out, err = course.collect("canvas", str(canvas_zip), "--track", "mnist", "--times", str(times),
                                    capsys=capsys)
    assert code == 0, err
    alice, bob = course.record("s001"), course.record("s002")
    assert (alice["submitted_at"], alice["late"]) == ("2025-03-01T16:30:00+00:00", False)
    assert (bob["submitted_at"], bob["late"], bob["late_days"], bob["penalty"]) == (
        "2025-03-04T18:00:00+00:00", True, 4, 0.4)
    assert "times: Canvas's LATE marks decide late or on time; days late from submissions.json" in out
    assert "  s002  collected, late   jonesbob_LATE_202_9010_model.py, 4 day(s) late, penalty 40%" in out


def test_canvas_times_from_a_csv_and_where_canvas_disagrees(course, canvas_zip, tmp_path, capsys):
    # Canvas's due date for Bob was earlier than course.deadlines (his submitted_at is before ours):
    # the LATE mark decides, days from seconds_late, and the instructor is told.
    times = tmp_path / "times.csv"
    times.write_text("user_id,submitted_at,late,seconds_late\n"
                     "201,2025-03-01T18:00:00Z,false,0\n"
                     "202,2025-03-01T16:00:00Z,true,7200\n")
    code, out, err = course.collect("canvas", str(canvas_zip), "--track", "mnist", "--times", str(times),
                                    capsys=capsys)
    assert code == 0, err
    assert (course.record("s002")["late"], course.record("s002")["late_days"]) == (True, 1)
    assert course.record("s002")["checks"] == [
        "check: Canvas marked it LATE, but times.csv:3 says submitted_at 2025-03-01T16:00:00+00:00, not after the "
        "deadline 2025-03-01T17:00:00+00:00: Canvas's due date differs; counted 1 day(s) from Canvas's seconds_late"]
    # Alice: after our deadline, but Canvas (an extension there) did not mark her late.
    assert course.record("s001")["late"] is False
    assert course.record("s001")["checks"] == [
        "check: Canvas did not mark it LATE, but times.csv:2 says submitted_at 2025-03-01T18:00:00+00:00, after the "
        "deadline 2025-03-01T17:00:00+00:00: Canvas's due date or an extension there differs; on time as Canvas says"]
    assert out.rstrip().endswith("2 to check")


def test_canvas_gradebook_export_is_refused_for_times(course, canvas_zip, tmp_path, capsys):
    gradebook = tmp_path / "grades.csv"
    gradebook.write_text("Student,ID,SIS User ID,SIS Login ID,Section,HW1 (7001)\n"
                         "    Points Possible,,,,,10\n"
                         "\"Smith, Alice\",201,,,Section 1,9\n")
    code, out, err = course.collect("canvas", str(canvas_zip), "--track", "mnist", "--times", str(gradebook),
                                    capsys=capsys)
    assert code == 2
    assert err == (f"error: {gradebook}: a Canvas gradebook export has scores but no submission times; save the "
                   f"Submissions API's JSON instead (see the collect guide)\n")


def test_reject_policy_does_not_reject_a_class_for_its_export_time(course, canvas_zip, capsys):
    # The case: {reject, after_days: 1} and an export made 2 days after the deadline. Before,
    # every student was "2 day(s) late" and rejected; now only Canvas's LATE marks count.
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": {"kind": "reject", "after_days": 1}})
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0
    assert course.record("s001")["late"] is False
    assert course.record("s002")["late"] is True  # 1 day counted: within after_days
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": {"kind": "reject", "after_days": 0}})
    (course.submissions / "s002" / "model.py").unlink()
    (course.submissions / "s002" / "submission.yaml").unlink()
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert not (course.submissions / "s002").joinpath("model.py").exists()
    assert ("  s002  rejected          jonesbob_LATE_202_9010_model.py: late, days unknown (counted as 1), past "
            "the late policy's last day") in out.splitlines()


def test_not_a_zip_is_a_usage_error(course, tmp_path, capsys):
    bogus = tmp_path / "export.zip"
    bogus.write_text("not a zip")
    code, out, err = course.collect("moodle", str(bogus), "--track", "mnist", capsys=capsys)
    assert code == 2 and err.startswith("error: ") and "not a readable zip" in err and len(err.splitlines()) == 1


def test_zip_local_times_are_read_in_the_deadlines_time_zone(project, tmp_path, capsys):
    # 17:00 in UTC+1 is 16:00 UTC. A DOS time of 16:30 (no zone) read in UTC+1 is 15:30 UTC: on time;
    # read as UTC it would have been half an hour late.
    project.write_roster(["student_id,lms_name", "s001,Alice Smith"])
    project.write_params({"deadlines": {"mnist": "2025-03-01T17:00:00+01:00"}})
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/model.py", model_source("alice"), (2025, 3, 1, 16, 30, 0))
    code, _, err = project.collect("moodle", str(path), capsys=capsys)
    assert code == 0, err
    record = project.record("s001")
    assert record["submitted_at"] == "2025-03-01T15:30:00+00:00" and record["late"] is False


def test_moodle_grading_worksheet_times(course, tmp_path, capsys):
    # Moodle's worksheet, as "Download grading worksheet" writes it (BOM, "Participant N", English
    # dates). Its times are Moodle's own record and win over the zip's.
    export = tmp_path / "moodle.zip"
    with zipfile.ZipFile(export, "w") as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/model.py", model_source("alice"), (2025, 3, 1, 16, 0, 0))
        zip_entry(archive, f"Bob Jones_102{MOODLE}/model.py", model_source("bob"), (2025, 3, 1, 16, 0, 0))
        zip_entry(archive, f"Carol Kim_103{MOODLE}/model.py", model_source("carol"), (2025, 3, 1, 16, 0, 0))
    worksheet = tmp_path / "Grades-HW1-7001.csv"
    worksheet.write_text(
        "\ufeffIdentifier,\"Full name\",\"Email address\",Status,Grade,\"Maximum grade\",\"Grade can be changed\","
        "\"Last modified (submission)\",\"Last modified (grade)\",\"Feedback comments\"\n"
        "\"Participant 101\",\"Alice Smith\",alice@example.org,\"Submitted for grading\",,100.00,Yes,"
        "\"Saturday, 1 March 2025, 4:59 PM\",-,\n"
        "\"Participant 102\",\"Bob Jones\",bob@example.org,\"Submitted for grading - 1 day 1 hour late\",,100.00,"
        "Yes,\"Sunday, 2 March 2025, 6:00 PM\",-,\n"
        "\"Participant 103\",\"Carol Kim\",carol@example.org,\"Submitted for grading\",,100.00,Yes,"
        "\"Saturday, March 1, 2025, 9:05 AM\",-,\n"
        "\"Participant 104\",\"Quiet Student\",quiet@example.org,\"No submission\",,100.00,Yes,-,-,\n",
        encoding="utf-8")
    code, out, err = course.collect("moodle", str(export), "--track", "mnist", "--times", str(worksheet),
                                    capsys=capsys)
    assert code == 0, err
    assert 'times: Moodle\'s "Last modified (submission)" from Grades-HW1-7001.csv' in out
    assert course.record("s001")["submitted_at"] == "2025-03-01T16:59:00+00:00"
    bob = course.record("s002")
    assert (bob["submitted_at"], bob["late"], bob["late_days"]) == ("2025-03-02T18:00:00+00:00", True, 2)
    assert course.record("s003")["submitted_at"] == "2025-03-01T09:05:00+00:00"  # the US English form


def test_moodle_worksheet_with_a_date_it_cannot_read(course, tmp_path, capsys):
    export = tmp_path / "moodle.zip"
    with zipfile.ZipFile(export, "w") as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/model.py", model_source("alice"))
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Identifier,Last modified (submission)\nParticipant 101,\"samedi 1 mars 2025, 16:59\"\n")
    code, _, err = course.collect("moodle", str(export), "--track", "mnist", "--times", str(worksheet), capsys=capsys)
    assert code == 2
    assert err == (f"error: {worksheet}:2: Last modified (submission) 'samedi 1 mars 2025, 16:59' is not a Moodle "
                   f"date like 'Saturday, 1 March 2025, 4:59 PM'; download the worksheet with the site language set "
                   f"to English\n")


def test_rejected_later_says_the_earlier_hand_in_is_still_there(course, canvas_zip, tmp_path, capsys):
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": {"kind": "reject", "after_days": 1}})
    course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)  # Bob: late, counted as 1 day
    times = submissions_api_json(tmp_path, [{"user_id": 202, "submitted_at": "2025-03-04T18:00:00Z", "late": True}])
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", "--times", str(times), capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    index = lines.index("  s002  rejected          jonesbob_LATE_202_9010_model.py at 2025-03-04T18:00:00+00:00: 4 day(s) "
                        "late, past the late policy's last day")
    assert lines[index + 1] == ("                          warning: submissions/s002/ still holds an earlier collect's "
                                "hand-in (jonesbob_LATE_202_9010_model.py): remove the folder if it must not be graded")
