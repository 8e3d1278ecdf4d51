"""Messages that say what was found: misnamed files, folders, zips, duplicates, near-miss names,
semicolon rosters; and collected files' modes."""

from __future__ import annotations

import os
import stat
import warnings
import zipfile

import pytest

from tests.course.conftest import DEADLINE, model_source, zip_entry

MOODLE = "_assignsubmission_file_"


@pytest.fixture
def course(project):
    project.write_roster(["student_id,lms_name", "s001,Alice Smith", "s002,Bob Jones", "s003,Carol Kim",
                          "s004,Dan Brown", "s505,Zoe Lopez", "s006,John Smith"])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}})
    return project


@pytest.fixture
def moodle_zip(tmp_path):
    path = tmp_path / "moodle-export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/Model.py", model_source("alice"))
        zip_entry(archive, f"Bob Jones_102{MOODLE}/hw1/model.py", model_source("bob"))
        zip_entry(archive, f"Bob Jones_102{MOODLE}/hw1/data.csv", b"1,2\n")
        zip_entry(archive, f"Carol Kim_103{MOODLE}/hw1_submission.zip", b"PK\x05\x06" + bytes(18))
        zip_entry(archive, f"Dan Brown_104{MOODLE}/model.py", model_source("dan first"), (2025, 3, 1, 11, 0, 0))
        with warnings.catch_warnings():  # zipfile warns about the duplicate it is asked to write
            warnings.simplefilter("ignore")
            zip_entry(archive, f"Dan Brown_104{MOODLE}/model.py", model_source("dan second!"), (2025, 3, 1, 12, 0, 0))
        zip_entry(archive, f"Zoë López_505{MOODLE}/model.py", model_source("zoe"))
        zip_entry(archive, f"Jon Smyth_506{MOODLE}/model.py", model_source("jon"))
    return path


def student_lines(out: str) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("  s"):
            current = line.split()[0]
            lines[current] = [line]
        elif line.startswith("    ") and current:
            lines[current].append(line.strip())
    return lines


def test_moodle_messages_say_what_was_found(course, moodle_zip, capsys):
    code, out, err = course.collect("moodle", str(moodle_zip), "--track", "mnist", capsys=capsys)
    assert code == 0, err
    lines = student_lines(out)
    assert lines["s001"] == ["  s001  skipped           Alice Smith (101): found Model.py: the file must be named model.py"]
    assert lines["s002"] == ["  s002  skipped           Bob Jones (102): found hw1/model.py in a folder: hand in "
                             "model.py at the top"]
    assert lines["s003"] == ["  s003  skipped           Carol Kim (103): found hw1_submission.zip: upload model.py "
                             "itself, not a zip"]
    assert lines["s004"][1] == (f"warning: duplicate entry Dan Brown_104{MOODLE}/model.py in the export: took the "
                                f"later one ({len(model_source('dan second!'))} bytes), not the earlier "
                                f"({len(model_source('dan first'))} bytes)")
    assert (course.submissions / "s004" / "model.py").read_bytes() == model_source("dan second!")
    # Accents are ignored by default: Moodle's "Zoë López" is the roster's "Zoe Lopez".
    assert course.record("s505")["lms_name"] == "Zoë López"
    assert "unmatched: Jon Smyth (506): not on the roster; did you mean s006 John Smith?" in out.splitlines()


def test_accents_can_be_required_and_the_near_miss_is_suggested(course, moodle_zip, capsys):
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "ignore_accents": False})
    code, out, _ = course.collect("moodle", str(moodle_zip), "--track", "mnist", capsys=capsys)
    assert code == 0
    assert "unmatched: Zoë López (505): not on the roster; did you mean s505 Zoe Lopez?" in out.splitlines()
    assert not (course.submissions / "s505").exists()


def test_canvas_misnamed_upload(course, tmp_path, capsys):
    path = tmp_path / "canvas.zip"
    with zipfile.ZipFile(path, "w") as archive:
        zip_entry(archive, "smithalice_201_9001_Model.py", model_source("alice"))
        zip_entry(archive, "jonesbob_202_9002_hw1_submission.zip", b"PK\x05\x06" + bytes(18))
        zip_entry(archive, "smythjon_206_9003_model.py", model_source("jon"))
    code, out, _ = course.collect("canvas", str(path), "--track", "mnist", capsys=capsys)
    assert code == 0
    lines = student_lines(out)
    assert lines["s001"] == ["  s001  skipped           smithalice (201): found Model.py: the file must be named model.py"]
    assert lines["s002"] == ["  s002  skipped           jonesbob (202): found hw1_submission.zip: upload model.py "
                             "itself, not a zip"]
    assert "unmatched: smythjon (206): not on the roster; did you mean s006 John Smith?" in out.splitlines()


def test_git_repository_with_the_model_in_a_folder(project, classroom, capsys):
    folder = classroom.commit("alice", "2025-03-01T12:00:00+00:00", {"README.md": b"hi\n"})
    (classroom.work / "alice" / "hw1").mkdir()
    nested = classroom.commit("alice", "2025-03-01T12:30:00+00:00", {"hw1/model.py": model_source("alice")})
    classroom.commit("bob", "2025-03-01T12:00:00+00:00", {"Model.py": model_source("bob")})
    project.write_roster(["student_id,repo", f"s001,{classroom.url('alice')}", f"s002,{classroom.url('bob')}"])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}})
    code, out, _ = project.collect("git", capsys=capsys)
    assert code == 0 and folder != nested
    lines = student_lines(out)
    assert lines["s001"] == [f"  s001  skipped           found hw1/model.py in a folder: hand in model.py at the top "
                             f"(commit {nested[:10]})"]
    assert lines["s002"] == [f"  s002  skipped           found Model.py: the file must be named model.py "
                             f"(commit {classroom.shas['bob'][0][:10]})"]


def test_semicolon_roster(project, capsys):
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}})
    (project.root / "roster.csv").write_text("student_id;display_name;repo;lms_name\ns001;Student 1;;Alice Smith\n")
    code, out, err = project.collect("git", capsys=capsys)
    assert code == 2
    assert err == ("error: roster.csv:1: this looks semicolon-separated; save it as CSV with commas (the header is "
                   "'student_id;display_name;repo;lms_name')\n")


def test_collected_files_take_the_umask_mode(course, moodle_zip, capsys):
    previous = os.umask(0o022)
    try:
        course.collect("moodle", str(moodle_zip), "--track", "mnist", capsys=capsys)
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (course.submissions / "s004").iterdir()}
    assert modes == {"model.py": 0o644, "submission.yaml": 0o644}
