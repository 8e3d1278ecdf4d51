"""Archive limits: bombs of every compression method with lying headers, caps on the whole export,
and partial downloads. Every zip here is built byte by byte or by zipfile, as an attacker or a
broken download would leave it."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
import zlib

import pytest

from pipeline.course.archive import EntryRefused, read_entry
from tests.course.conftest import DEADLINE, REPO, model_source, write_raw_zip, zeros_compressed, zip_entry

MOODLE = "_assignsubmission_file_"
BOMB_BYTES = 400 * 2**20  # what each bomb inflates to; its header claims 847 bytes
CLAIMED = 847
PEAK_LIMIT_MB = 300


@pytest.fixture(scope="module")
def bombs(request, tmp_path_factory):
    """A bzip2 and an LZMA payload of 400 MB of zeros (about 2 KB and 60 KB compressed); compressing
    takes seconds, so they are kept in pytest's cache folder after the first run (when it has one)."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("collect-bombs") if cache is not None else tmp_path_factory.mktemp("collect-bombs")
    payloads = {}
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        path = folder / f"zeros-{BOMB_BYTES}-method-{method}.bin"
        if not path.is_file():
            path.write_bytes(zeros_compressed(method, BOMB_BYTES))
        payloads[method] = path.read_bytes()
    return payloads


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.fixture
def course(project):
    project.write_roster(["student_id,lms_name", "s001,Alice Smith", "s002,Bob Jones", "s003,Carol Kim",
                          "s004,Dan Brown"])
    project.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "max_file_mb": 1})
    return project


@pytest.fixture
def bomb_export(tmp_path, bombs):
    """A Moodle export: two honest hand-ins (deflate and bzip2) and a bzip2 and an LZMA bomb."""
    honest, small = model_source("alice"), model_source("dan")
    import bz2
    path = tmp_path / "moodle-bombs.zip"
    write_raw_zip(path, [
        (f"Alice Smith_101{MOODLE}/model.py", zipfile.ZIP_DEFLATED, deflated(honest), zlib.crc32(honest), len(honest)),
        (f"Bob Jones_102{MOODLE}/model.py", zipfile.ZIP_BZIP2, bombs[zipfile.ZIP_BZIP2], 0, CLAIMED),
        (f"Carol Kim_103{MOODLE}/model.py", zipfile.ZIP_LZMA, bombs[zipfile.ZIP_LZMA], 0, CLAIMED),
        (f"Dan Brown_104{MOODLE}/model.py", zipfile.ZIP_BZIP2, bz2.compress(small), zlib.crc32(small), len(small)),
    ])
    return path


def test_bombs_stop_at_the_cap_and_the_class_is_collected(course, bomb_export, capsys):
    code, out, err = course.collect("moodle", str(bomb_export), "--track", "mnist", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "  s001  collected         Alice Smith_101_assignsubmission_file_/model.py, on time" in lines
    assert ("  s002  skipped           Bob Jones (102): model.py: over the 1 MB cap (course.max_file_mb) once "
            "inflated: refused") in lines
    assert ("  s003  skipped           Carol Kim (103): model.py: over the 1 MB cap (course.max_file_mb) once "
            "inflated: refused") in lines
    assert (course.submissions / "s004" / "model.py").read_bytes() == model_source("dan")  # honest bzip2 reads
    assert sorted(path.name for path in course.submissions.iterdir()) == ["s001", "s004"]


def test_peak_memory_on_bombs_stays_under_300_mb(course, bomb_export):
    # In a fresh process, so the figure is collect's alone: the old reader reached 2.26 GB on a bomb.
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with
    # TensorFlow imported by other test modules), VmHWM belongs to this process's own memory.
    probe = ("import re, sys\n"
             "from pipeline.__main__ import main\n"
             f"code = main(['collect', 'moodle', {str(bomb_export)!r}, '--track', 'mnist'])\n"
             "status = open('/proc/self/status').read()\n"
             "peak_mb = int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) / 1024\n"
             "print(f'PEAK {code} {peak_mb:.0f}', file=sys.stderr)\n")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=course.root, capture_output=True, text=True,
                               timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    peak = next(line for line in completed.stderr.splitlines() if line.startswith("PEAK"))
    _, code, peak_mb = peak.split()
    assert code == "0", completed.stderr
    assert "over the 1 MB cap" in completed.stdout
    assert float(peak_mb) < PEAK_LIMIT_MB, peak


def test_a_method_collect_cannot_stream_is_refused_by_name(course, tmp_path, capsys):
    path = tmp_path / "deflate64.zip"
    write_raw_zip(path, [(f"Alice Smith_101{MOODLE}/model.py", 9, b"\x00" * 64, 0, CLAIMED)])
    code, out, _ = course.collect("moodle", str(path), "--track", "mnist", capsys=capsys)
    assert code == 0
    assert ("  s001  skipped           Alice Smith (101): model.py: unreadable in the zip: compressed with deflate64, "
            "which collect does not read (stored, deflate, bzip2 and LZMA are read): ask for the file itself"
            ) in out.splitlines()


def test_too_many_entries_is_refused_before_reading(course, tmp_path, capsys):
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "max_export_entries": 5})
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(6):
            zip_entry(archive, f"Student {number}_{number}{MOODLE}/notes.txt", b"x")
    code, out, err = course.collect("moodle", str(path), "--track", "mnist", capsys=capsys)
    assert (code, out) == (2, "")
    assert err == (f"error: {path}: 6 entries, over the 5 allowed (course.max_export_entries); raise it if this "
                   f"export is genuine\n")


def test_total_inflated_size_is_capped(course, tmp_path, capsys):
    course.write_params({"deadlines": {"mnist": DEADLINE.isoformat()}, "max_export_mb": 0.001})  # 1048 bytes
    path = tmp_path / "big-class.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, number in (("Alice Smith", 101), ("Bob Jones", 102), ("Carol Kim", 103)):
            zip_entry(archive, f"{name}_{number}{MOODLE}/model.py", model_source(name) + b"#" * 400)  # ~650 bytes
    code, _, err = course.collect("moodle", str(path), "--track", "mnist", capsys=capsys)
    assert code == 2
    assert err == (f"error: {path}: over 0.001 MB once inflated (course.max_export_mb) by "
                   f"Bob Jones_102{MOODLE}/model.py; raise it if this export is genuine\n")


def moodle_export_with_inner_zip(path):
    """Moodle export whose middle student uploaded a zip, stored uncompressed inside the export."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        zip_entry(archive, "hw1/model.py", model_source("bob inside"))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        zip_entry(archive, f"Alice Smith_101{MOODLE}/model.py", model_source("alice"))
        info = zipfile.ZipInfo(f"Bob Jones_102{MOODLE}/hw1_submission.zip", (2025, 3, 1, 12, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        archive.writestr(info, inner.getvalue())
        zip_entry(archive, f"Carol Kim_103{MOODLE}/model.py", model_source("carol"))
    return inner.getvalue()


def test_truncated_export_ending_after_an_inner_zip(course, tmp_path, capsys):
    path = tmp_path / "moodle-export.zip"
    inner = moodle_export_with_inner_zip(path)
    whole = path.read_bytes()
    partial = tmp_path / "partial.zip"
    partial.write_bytes(whole[:whole.index(inner) + len(inner)])  # the download stopped right there
    with zipfile.ZipFile(partial) as archive:  # zipfile alone reads Bob's inner zip as the export
        assert archive.namelist() == ["hw1/model.py"]
    code, out, err = course.collect("moodle", str(partial), "--track", "mnist", capsys=capsys)
    assert (code, out) == (2, "")
    offset = whole.index(inner)
    assert err == (f"error: {partial}: the zip's directory starts {offset} bytes into the file, so it is not this "
                   f"export's own (a partial download?); download the export again\n")
    # The whole export is read, and Bob is told what he uploaded.
    code, out, _ = course.collect("moodle", str(path), "--track", "mnist", capsys=capsys)
    assert code == 0
    assert ("  s002  skipped           Bob Jones (102): found hw1_submission.zip: upload model.py itself, not a zip"
            in out.splitlines())


def test_truncated_export_anywhere_else(course, tmp_path, capsys):
    path = tmp_path / "moodle-export.zip"
    moodle_export_with_inner_zip(path)
    partial = tmp_path / "partial.zip"
    partial.write_bytes(path.read_bytes()[:200])
    code, _, err = course.collect("moodle", str(partial), "--track", "mnist", capsys=capsys)
    assert code == 2
    assert err == f"error: {partial}: not a readable zip file (File is not a zip file); download the export again\n"


def test_bytes_the_directory_does_not_account_for(course, tmp_path, capsys):
    # Something spliced between two entries (a corrupt transfer): refused, not half-read.
    path = tmp_path / "spliced.zip"
    honest = model_source("alice")
    write_raw_zip(path, [(f"Alice Smith_101{MOODLE}/model.py", zipfile.ZIP_STORED, honest, zlib.crc32(honest),
                          len(honest))])
    data = path.read_bytes()
    directory = data.index(b"PK\x01\x02")
    spliced = data[:directory] + b"\0" * 100 + data[directory:]
    # Move the end record's directory offset along so that zipfile itself still opens it.
    end = spliced.rindex(b"PK\x05\x06")
    offset = int.from_bytes(spliced[end + 16:end + 20], "little") + 100
    path.write_bytes(spliced[:end + 16] + offset.to_bytes(4, "little") + spliced[end + 20:])
    code, _, err = course.collect("moodle", str(path), "--track", "mnist", capsys=capsys)
    assert code == 2
    start = directory - len(honest)
    assert err == (f"error: {path}: the zip's directory does not account for bytes {directory}-{directory + 100} "
                   f"after Alice Smith_101{MOODLE}/model.py: the file is damaged or partial; download the export "
                   f"again\n"), start


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_streamed_reading_matches_zipfile_for_every_method(method):
    # Honest entries of awkward sizes (around the 64 KB chunk and zlib's window) read back exactly,
    # and one byte over the cap is refused.
    for size in (0, 1, 65535, 65537, 300_001):
        data = bytes(range(256)) * (size // 512) + b"z" * (size - 256 * (size // 512))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", method) as archive:
            archive.writestr("model.py", data)
        info = zipfile.ZipFile(buffer).infolist()[0]
        assert read_entry(buffer, info, size) == data
        if size:
            with pytest.raises(EntryRefused, match="over the cap"):
                read_entry(buffer, info, size - 1)
