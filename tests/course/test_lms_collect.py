"""`collect moodle` and `collect canvas`: real export zips with the awkward cases in them."""

from __future__ import annotations

import datetime
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


@pytest.fixture
def canvas_zip(tmp_path):
    path = tmp_path / "canvas-submissions.zip"
    bob_time = datetime.datetime(2025, 3, 4, 18, 0, tzinfo=datetime.timezone.utc)  # 3 days 1 hour late
    with zipfile.ZipFile(path, "w") as archive:
        zip_entry(archive, "smithalice_201_9001_model.py", model_source("alice v1"), (2025, 3, 1, 10, 0, 0))
        zip_entry(archive, "smithalice_201_9002_model-1.py", model_source("alice v2"), (2025, 3, 1, 15, 0, 0))
        zip_entry(archive, "smithalice_201_9003_model-2.py", model_source("alice v3"), (2025, 3, 1, 16, 30, 0))
        # The UTC extended timestamp wins over the DOS time (which has no time zone).
        zip_entry(archive, "jonesbob_LATE_202_9010_model.py", model_source("bob"), (2025, 3, 1, 9, 0, 0),
                  extra=extended_timestamp(bob_time))
        zip_entry(archive, "kimcarol_203_9020_model.py", b"../../../../etc/passwd", symlink=True)
        zip_entry(archive, "nobody_299_9030_model.py", model_source("nobody"))
        zip_entry(archive, "../evil_1_2_model.py", b"import os\n")
    return path


def test_canvas_export_takes_the_latest_resubmission(course, canvas_zip, capsys):
    code, out, err = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0, err
    submissions = course.submissions
    assert sorted(path.name for path in submissions.iterdir()) == ["s001", "s002"]
    assert (submissions / "s001" / "model.py").read_bytes() == model_source("alice v3")
    alice = course.record("s001")
    assert alice["lms_file"] == "smithalice_201_9003_model-2.py"
    assert alice["submitted_at"] == "2025-03-01T16:30:00+00:00" and alice["late"] is False
    bob = course.record("s002")
    assert bob["submitted_at"] == "2025-03-04T18:00:00+00:00" and bob["lms_late"] is True
    assert (bob["late"], bob["late_days"], bob["penalty"]) == (True, 4, 0.4)
    assert "unmatched: nobody (299)" in out
    assert "refused: ../evil_1_2_model.py" in out
    assert "refused: kimcarol_203_9020_model.py: symbolic link: refused" in out

    before = course.snapshot()
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0 and course.snapshot() == before


def test_reject_policy_does_not_collect_beyond_its_days(course, canvas_zip, capsys):
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": {"kind": "reject", "after_days": 2}})
    code, out, _ = course.collect("canvas", str(canvas_zip), "--track", "mnist", capsys=capsys)
    assert code == 0
    assert not (course.submissions / "s002").exists()
    assert "rejected" in next(line for line in out.splitlines() if line.startswith("  s002"))


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
