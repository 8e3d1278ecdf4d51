"""A demo class with every case collect handles, built as the platforms build them, then collected.

    python -m tests.course.demo_class /tmp/demo-class

Prints each `collect` run's summary (the collect guide, docs/instructors/collect.md, shows them).
The folder must not exist yet. Takes a few seconds (the two 400 MB bombs compress first).
"""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

from tests.course.conftest import (CLASSROOM_BOT, DEADLINE, PENALTY_POLICY, Classroom, Project, model_source,
                                   write_raw_zip, zeros_compressed, zip_entry)

MOODLE = "_assignsubmission_file_"
STUB = b'"""Starter code."""\n\n\ndef build_model(input_shape, num_classes):\n    raise NotImplementedError\n'
TEMPLATE = {"model.py": STUB, "README.md": b"# HW1\n"}
CREATED = "2025-02-20T09:00:00+00:00"
BOMB_BYTES = 400 * 2**20


def build_classroom(classroom: Classroom) -> None:
    classroom.commit("template", CREATED, dict(TEMPLATE))
    for name in ("ann", "ben", "cat", "dev", "eve", "fay", "gus", "hal", "ivy"):
        classroom.commit(name, CREATED, dict(TEMPLATE), author=CLASSROOM_BOT)
    classroom.commit("ben", "2025-03-01T16:00:00+00:00", {"model.py": model_source("ben")})  # on time
    classroom.commit("cat", "2025-03-03T10:00:00+00:00", {"model.py": model_source("cat")})  # 2 days late
    classroom.commit("dev", "2025-03-10T09:00:00+00:00", {"model.py": model_source("dev")})  # past the window
    classroom.commit("eve", "2025-03-03T10:00:00+00:00", {"model.py": model_source("eve v1")})
    classroom.commit("eve", "2025-03-01T12:00:00+00:00", {"model.py": model_source("eve v2")})  # before its parent
    classroom.commit("fay", "2025-03-03T10:00:00+00:00", {"model.py": model_source("fay")})  # amended later
    classroom.commit("gus", "2099-01-01T00:00:00+00:00", {"model.py": model_source("gus")})  # in the future
    (classroom.work / "hal" / "hw1").mkdir()
    classroom.commit("hal", "2025-03-01T12:00:00+00:00", {"hw1/model.py": model_source("hal"), "model.py": None})
    classroom.commit("ivy", "2025-03-01T12:00:00+00:00", {"Model.py": model_source("ivy"), "model.py": None})


def build_moodle(folder: Path) -> tuple[Path, Path]:
    bz2_bomb, lzma_bomb = (zeros_compressed(method, BOMB_BYTES) for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        zip_entry(archive, "hw1/model.py", model_source("inner"))
    honest = [("Ann Lee_101", "model.py", model_source("ann"), (2025, 3, 1, 16, 0, 0)),
              ("Ben Ode_102", "Model.py", model_source("ben"), (2025, 3, 1, 16, 0, 0)),
              ("Cat Roy_103", "hw1/model.py", model_source("cat"), (2025, 3, 1, 16, 0, 0)),
              ("Dev Sen_104", "hw1_submission.zip", inner.getvalue(), (2025, 3, 1, 16, 0, 0)),
              ("Eve Ito_105", "model.py", model_source("eve 1"), (2025, 3, 1, 11, 0, 0)),
              ("Eve Ito_105", "model.py", model_source("eve second"), (2025, 3, 1, 12, 0, 0)),
              ("Zoë López_505", "model.py", model_source("zoe"), (2025, 3, 1, 16, 0, 0)),
              ("Jon Smyth_506", "model.py", model_source("jon"), (2025, 3, 1, 16, 0, 0)),
              ("Gus Ali_107", "model.py", model_source("gus"), (2025, 3, 1, 16, 0, 0))]
    entries = []
    for who, name, data, when in honest:
        if name.endswith(".zip"):  # a zip does not shrink: stored as it is, as zip tools do
            entries.append((f"{who}{MOODLE}/{name}", zipfile.ZIP_STORED, data, zlib.crc32(data), len(data)))
            continue
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        entries.append((f"{who}{MOODLE}/{name}", zipfile.ZIP_DEFLATED, compressor.compress(data) + compressor.flush(),
                        zlib.crc32(data), len(data)))
    entries.append((f"Fay Kim_106{MOODLE}/model.py", zipfile.ZIP_BZIP2, bz2_bomb, 0, 847))
    entries.append((f"Hal Orr_108{MOODLE}/model.ipynb", zipfile.ZIP_LZMA, lzma_bomb, 0, 847))
    export = folder / "moodle-hw1.zip"
    write_raw_zip(export, entries)
    worksheet = folder / "Grades-HW1-7001.csv"
    worksheet.write_text(
        "\ufeffIdentifier,\"Full name\",\"Email address\",Status,Grade,\"Maximum grade\",\"Grade can be changed\","
        "\"Last modified (submission)\",\"Last modified (grade)\",\"Feedback comments\"\n"
        "\"Participant 101\",\"Ann Lee\",ann@example.org,\"Submitted for grading\",,100.00,Yes,"
        "\"Saturday, 1 March 2025, 4:59 PM\",-,\n"
        "\"Participant 107\",\"Gus Ali\",gus@example.org,\"Submitted for grading - 1 day 1 hour late\",,100.00,Yes,"
        "\"Sunday, 2 March 2025, 6:00 PM\",-,\n", encoding="utf-8")
    return export, worksheet


def build_canvas(folder: Path) -> tuple[Path, Path]:
    # rubyzip, at export time (2025-03-03 09:12 UTC), for every entry.
    from tests.course.test_lms_collect import canvas_entry
    export = folder / "canvas-hw1.zip"
    with zipfile.ZipFile(export, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        canvas_entry(archive, "leeann_201_9001_model.py", model_source("ann v1"))
        canvas_entry(archive, "leeann_201_9002_model-1.py", model_source("ann v2"))
        canvas_entry(archive, "odeben_LATE_202_9010_model.py", model_source("ben"))
        canvas_entry(archive, "roycat_LATE_203_9020_model.py", model_source("cat"))
        canvas_entry(archive, "sendev_204_9030_model.py", model_source("dev"))
        canvas_entry(archive, "itoeve_205_9040_Model.py", model_source("eve"))
    times = folder / "submissions.json"
    times.write_text(json.dumps([
        {"user_id": 201, "submitted_at": "2025-03-01T16:30:00Z", "late": False, "seconds_late": 0},
        {"user_id": 202, "submitted_at": "2025-03-04T18:00:00Z", "late": True, "seconds_late": 262800},
        {"user_id": 204, "submitted_at": "2025-03-01T18:00:00Z", "late": False, "seconds_late": 0},
    ]))
    return export, times


def run(project: Project, *arguments: str) -> None:
    from pipeline.__main__ import main
    print(f"$ python -m pipeline collect {' '.join(arguments)}")
    sys.stdout.flush()
    here = Path.cwd()
    os.chdir(project.root)
    try:
        code = main(["collect", *arguments])
    finally:
        os.chdir(here)
    sys.stdout.flush()
    sys.stderr.flush()
    print(f"(exit status {code})\n")


def main(root: Path) -> None:
    root.mkdir(parents=True)
    classroom = Classroom(root / "classroom")
    build_classroom(classroom)
    project_root = root / "course"
    project_root.mkdir()
    project = Project(project_root)
    project.write_roster(["student_id,display_name,repo,lms_name",
                          *(f"s{index:03d},,{classroom.url(name)}," for index, name in enumerate(
                              ["ann", "ben", "cat", "dev", "eve", "fay", "gus", "hal", "ivy"], start=1))])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY,
                          "template": {"repo": classroom.url("template")}})
    run(project, "git", "--track", "mnist")
    classroom.commit("fay", "2025-03-01T16:30:00+00:00", {"model.py": model_source("fay")}, amend=True)
    run(project, "git", "--track", "mnist")

    lms = Project(root / "lms-course") if (root / "lms-course").mkdir() is None else None
    lms.write_roster(["student_id,lms_name", "s001,Ann Lee", "s002,Ben Ode", "s003,Cat Roy", "s004,Dev Sen",
                      "s005,Eve Ito", "s006,Fay Kim", "s007,Gus Ali", "s008,Hal Orr", "s505,Zoe Lopez",
                      "s506,John Smith"])
    lms.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "late_policy": PENALTY_POLICY,
                      "max_file_mb": 1})
    moodle, worksheet = build_moodle(root)
    run(lms, "moodle", str(moodle), "--track", "mnist", "--times", str(worksheet))
    partial = root / "moodle-hw1-partial.zip"
    data = moodle.read_bytes()
    inner_end = data.index(b"PK\x05\x06") + 22  # the first end record is the stored inner zip's
    partial.write_bytes(data[:inner_end])  # the download stopped right after it
    run(lms, "moodle", str(partial), "--track", "mnist")

    canvas_course = Project(root / "canvas-course") if (root / "canvas-course").mkdir() is None else None
    canvas_course.write_roster(["student_id,lms_name", "s001,Ann Lee", "s002,Ben Ode", "s003,Cat Roy",
                                "s004,Dev Sen", "s005,Eve Ito"])
    canvas_course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()},
                                "late_policy": {"kind": "reject", "after_days": 1}})
    canvas, times = build_canvas(root)
    run(canvas_course, "canvas", str(canvas), "--track", "mnist")
    run(canvas_course, "canvas", str(canvas), "--track", "mnist", "--times", str(times))

    (lms.root / "roster.csv").write_text("student_id;lms_name\ns001;Ann Lee\n")
    run(lms, "moodle", str(moodle), "--track", "mnist")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
