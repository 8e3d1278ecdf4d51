"""Fixtures for collect: a course project folder, a classroom of git repositories, LMS zips.

Everything is built for real in tmp_path (git repositories with dated commits, zip files with
crafted entries); nothing is mocked. Deadline of the `mnist` track: 2025-03-01 17:00 UTC.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from pipeline.__main__ import main

REPO = Path(__file__).resolve().parents[2]
DEADLINE = datetime.datetime(2025, 3, 1, 17, 0, tzinfo=datetime.timezone.utc)
PENALTY_POLICY = {"kind": "penalty", "percent_per_day": 10, "max_days": 5}


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def model_source(label: str) -> bytes:
    return (f'"""{label}"""\nimport keras\n\n\ndef build_model(input_shape, num_classes):\n'
            f'    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),\n'
            f'                             keras.layers.Dense(num_classes, activation="softmax")])\n').encode()


STUDENT = ("Student", "s@example.org")
# GitHub Classroom makes each student's repository with one commit of the template's files, authored
# by its bot and committed by GitHub.
CLASSROOM_BOT = ("github-classroom[bot]", "66690702+github-classroom[bot]@users.noreply.github.com")


def git(arguments, cwd, when: str | None = None, author: tuple[str, str] = STUDENT) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd),
           "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
    if author == CLASSROOM_BOT:
        env.update(GIT_COMMITTER_NAME="GitHub", GIT_COMMITTER_EMAIL="noreply@github.com")
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    completed = subprocess.run(["git", "-c", "user.name=Student", "-c", "user.email=s@example.org", *arguments],
                               cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return completed.stdout.strip()


class Classroom:
    """Student repositories as bare remotes under root/remotes/, reachable by file:// URLs."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"
        self.remotes = root / "remotes"
        self.shas: dict[str, list[str]] = {}

    def url(self, name: str) -> str:
        return (self.remotes / f"{name}.git").as_uri()

    def commit(self, name: str, when: str, files: dict[str, bytes | None], symlinks: dict[str, str] = {},
               author: tuple[str, str] = STUDENT, amend: bool = False) -> str:
        """Commit `files` (None deletes) at `when` in the student's repository and push it (amend:
        replace the last commit and force-push, as `git commit --amend && git push --force` does)."""
        work = self.work / name
        if not work.exists():
            work.mkdir(parents=True)
            git(["init", "-q", "-b", "main"], work)
            (self.remotes).mkdir(parents=True, exist_ok=True)
            git(["init", "-q", "--bare", "-b", "main", str(self.remotes / f"{name}.git")], work)
            git(["remote", "add", "origin", self.url(name)], work)
        for file_name, data in files.items():
            if data is None:
                (work / file_name).unlink()
            else:
                (work / file_name).write_bytes(data)
        for link, target in symlinks.items():
            (work / link).symlink_to(target)
        git(["add", "-A"], work)
        git(["commit", "-q", *(["--amend"] if amend else []), "-m", f"work at {when}"], work, when=when, author=author)
        git(["push", "-q", *(["--force"] if amend else []), "origin", "main"], work)
        sha = git(["rev-parse", "HEAD"], work)
        self.shas.setdefault(name, []).append(sha)
        return sha


class Project:
    """A gradebench working folder: params.yaml (real, plus a course: section), roster.csv, submissions/."""

    def __init__(self, root: Path):
        self.root = root
        self.submissions = root / "submissions"
        self.submissions.mkdir()

    def write_params(self, course: dict) -> None:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["course"] = course
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def write_roster(self, lines: list[str]) -> None:
        (self.root / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def collect(self, *arguments: str, capsys) -> tuple[int, str, str]:
        """`python -m pipeline collect ...` in the project folder (in-process: fast)."""
        here = Path.cwd()
        os.chdir(self.root)
        try:
            code = main(["collect", *arguments])
        finally:
            os.chdir(here)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def record(self, student_id: str) -> dict:
        return yaml.safe_load((self.submissions / student_id / "submission.yaml").read_text())

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        """Every file under submissions/ with its mtime (ns) and bytes."""
        return {str(path.relative_to(self.submissions)): (path.stat().st_mtime_ns, path.read_bytes())
                for path in sorted(self.submissions.rglob("*")) if path.is_file()}


@pytest.fixture
def project(tmp_path) -> Project:
    root = tmp_path / "course"
    root.mkdir()
    return Project(root)


@pytest.fixture
def classroom(tmp_path) -> Classroom:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return Classroom(tmp_path / "classroom")


def zip_entry(archive: zipfile.ZipFile, name: str, data: bytes, when: tuple = (2025, 3, 1, 12, 0, 0), *,
              symlink: bool = False, extra: bytes = b"") -> None:
    info = zipfile.ZipInfo(name, date_time=when)
    info.external_attr = ((0o120777 if symlink else 0o100644) << 16)
    info.create_system = 3  # Unix, so the mode bits mean what they say
    info.extra = extra
    archive.writestr(info, data)


def write_raw_zip(path: Path, entries: list[tuple[str, int, bytes, int, int]]) -> None:
    """A zip written byte by byte: (name, method, compressed payload, CRC, claimed inflated size) per
    entry. Nothing checks the claims, as nothing checks them in a hostile upload."""
    import struct
    local_parts, central_parts, offset = [], [], 0
    dos_time, dos_date = (12 << 11), ((2025 - 1980) << 9) | (3 << 5) | 1
    for name, method, payload, crc, claimed in entries:
        encoded = name.encode()
        version = 63 if method == zipfile.ZIP_LZMA else 46 if method == zipfile.ZIP_BZIP2 else 20
        flags = 0x2 if method == zipfile.ZIP_LZMA else 0  # LZMA: the stream ends with an end marker
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", version, flags, method, dos_time, dos_date, crc,
                            len(payload), claimed, len(encoded), 0) + encoded
        central_parts.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", (3 << 8) | version, version, flags,
                                         method, dos_time, dos_date, crc, len(payload), claimed, len(encoded), 0, 0,
                                         0, 0, 0o100644 << 16, offset) + encoded)
        local_parts.append(local + payload)
        offset += len(local) + len(payload)
    central = b"".join(central_parts)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), offset, 0)
    path.write_bytes(b"".join(local_parts) + central + end)


def zeros_compressed(method: int, size: int) -> bytes:
    """`size` zero bytes compressed as a zip entry's payload for bzip2 or LZMA, streamed (never in memory)."""
    import bz2
    import lzma
    import struct
    chunk = bytes(1 << 24)
    if method == zipfile.ZIP_BZIP2:
        compressor, header = bz2.BZ2Compressor(1), b""
    else:
        properties = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 0})
        compressor = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[
            lzma._decode_filter_properties(lzma.FILTER_LZMA1, properties)])
        header = struct.pack("<BBH", 9, 4, len(properties)) + properties  # as zipfile writes LZMA
    parts = [header]
    for _ in range(size // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return b"".join(parts)
