"""LMS exports: Moodle and Canvas "download all submissions" zips, read without extracting.

Moodle:  `Alice Smith_12345_assignsubmission_file_/model.py` (one folder per participant; 12345 is
         Moodle's participant number). The flat form without folders,
         `Alice Smith_12345_assignsubmission_file_model.py`, is read too.
Canvas:  `smithalice_12345_67890_model.py` (12345: Canvas user id, 67890: the file's id), with
         `_LATE` after the name when Canvas saw it late, and `model-1.py`, `model-2.py` for
         resubmissions: the highest suffix (then the highest file id) is the one collected.

Only the model file (model.py or model.ipynb) and meta.yaml are taken; everything else is ignored.
Nothing is extracted to disk: entries are read into memory (at most the size cap each) and
written by name into submissions/<id>/, so an entry's own path can never choose where it lands.
Entries that would be dangerous to extract anyway (`../` paths, absolute paths, symbolic links)
are refused and reported.

Submission times: a zip entry's modification time is when the LMS stored the file. The extended
timestamp field (UTC) is used when present; otherwise the zip's DOS time, which has no time zone,
is read in the deadline's time zone (the LMS's local time in a course's own zone). A DOS time of
1980-01-01 (the format's zero) means the export has no time: lateness is then not computed.
"""

from __future__ import annotations

import datetime
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional

from pipeline.course.git_intake import META_FILE, MODEL_FILES

COLLECTED_NAMES = (*MODEL_FILES, META_FILE)
UTF8_NAME_FLAG = 0x800  # general purpose bit 11: the entry name is UTF-8
EXTENDED_TIMESTAMP = 0x5455
SYMLINK_TYPE = 0o120000
FILE_TYPE_MASK = 0o170000

MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
MOODLE_FLAT = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_file_(?P<file>.+)$")
CANVAS_FILE = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<number>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<version>\d+)(?P<suffix>\.[^.]*)?$")


class ExportError(ValueError):
    """The file is not a readable zip (a user mistake: wrong file or a partial download)."""


@dataclass
class LmsHandin:
    """One student's entries in an export."""

    name: str  # the name as the LMS wrote it ("Alice Smith", "smithalice")
    number: str  # Moodle participant number / Canvas user id
    files: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)  # collected name -> the export's entry name
    times: dict[str, Optional[datetime.datetime]] = field(default_factory=dict)
    late_marks: dict[str, bool] = field(default_factory=dict)  # collected name -> Canvas marked it _LATE
    problems: list[str] = field(default_factory=list)
    # For choosing among Canvas resubmissions: collected name -> (version, attachment id).
    rank: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.number})"

    @property
    def lms_late(self) -> bool:
        return any(self.late_marks.get(name, False) for name in self.files)

    @property
    def model_name(self) -> Optional[str]:
        return next((name for name in MODEL_FILES if name in self.files), None)

    def submitted_at(self) -> Optional[datetime.datetime]:
        known = [moment for moment in self.times.values() if moment is not None]
        return max(known) if known else None


@dataclass
class Export:
    kind: str  # "moodle" or "canvas"
    handins: list[LmsHandin]
    refused: list[str]  # "entry: why", for entries never read
    ignored: list[str]  # entries that are not a model file or meta.yaml


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its author meant it.

    Without flag bit 11 the zip format says cp437, which is how Python decodes it; but Windows and
    macOS tools often write UTF-8 without setting the flag, so a name that re-encodes to valid UTF-8
    is read as UTF-8 ("José" instead of "JosÃ©"). Anything else stays cp437, which never fails.
    """
    if info.flag_bits & UTF8_NAME_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def unsafe_reason(info: zipfile.ZipInfo, name: str) -> Optional[str]:
    """Why extracting this entry would be dangerous, or None."""
    path = name.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "absolute path: refused"
    if ".." in PurePosixPath(path).parts:
        return "path leaves the folder ('..', zip-slip): refused"
    if (info.external_attr >> 16) & FILE_TYPE_MASK == SYMLINK_TYPE:
        return "symbolic link: refused"
    return None


def entry_time(info: zipfile.ZipInfo, zone: datetime.tzinfo) -> Optional[datetime.datetime]:
    """See the module doc: extended timestamp (UTC) first, else the DOS time in `zone`."""
    extra = info.extra
    while len(extra) >= 4:
        header_id, size = struct.unpack("<HH", extra[:4])
        data = extra[4:4 + size]
        if header_id == EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 1:
            (seconds,) = struct.unpack("<i", data[1:5])
            return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        extra = extra[4 + size:]
    if info.date_time[:3] == (1980, 1, 1):
        return None
    return datetime.datetime(*info.date_time, tzinfo=zone).astimezone(datetime.timezone.utc)


def _resubmission(file_name: str) -> tuple[str, int]:
    """("model.py", 2) for Canvas's "model-2.py"; (name, 0) for a first submission."""
    if file_name in COLLECTED_NAMES:
        return file_name, 0
    match = RESUBMISSION.match(file_name)
    if match and f"{match['stem']}{match['suffix'] or ''}" in COLLECTED_NAMES:
        return f"{match['stem']}{match['suffix'] or ''}", int(match["version"])
    return file_name, 0


@dataclass
class _Parsed:
    name: str
    number: str
    file_name: str  # as collected: model.py, model.ipynb or meta.yaml (or anything else: ignored)
    rank: tuple[int, int] = (0, 0)
    lms_late: bool = False


def _parse_moodle(path: str) -> Optional[_Parsed]:
    parts = path.split("/")
    if len(parts) == 1:
        match = MOODLE_FLAT.match(parts[0])
        return _Parsed(match["name"], match["number"], match["file"]) if match else None
    match = MOODLE_FOLDER.match(parts[0])
    if not match:
        return None
    if match["plugin"] != "file" or len(parts) != 2:
        # Online text, feedback files, or a file deeper down: not something collect takes.
        return _Parsed(match["name"], match["number"], "/".join(parts[1:]) + " (not at the top of the folder)")
    return _Parsed(match["name"], match["number"], parts[1])


def _parse_canvas(path: str) -> Optional[_Parsed]:
    if "/" in path:
        return None
    match = CANVAS_FILE.match(path)
    if not match:
        return None
    file_name, version = _resubmission(match["file"])
    return _Parsed(match["name"], match["number"], file_name, (version, int(match["attachment"])),
                   lms_late=bool(match["late"]))


PARSERS = {"moodle": _parse_moodle, "canvas": _parse_canvas}


def read_export(kind: str, zip_path: Path, max_bytes: int, zone: datetime.tzinfo) -> Export:
    """Every student's collected files from a Moodle or Canvas zip; see the module doc."""
    parse = PARSERS[kind]
    try:
        archive = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise ExportError(f"{zip_path}: not found") from None
    except (zipfile.BadZipFile, OSError) as error:
        raise ExportError(f"{zip_path}: not a readable zip file ({error}); download the export again") from None
    handins: dict[tuple[str, str], LmsHandin] = {}
    refused: list[str] = []
    ignored: list[str] = []
    with archive:
        for info in archive.infolist():
            name = entry_name(info)
            if info.is_dir():
                continue
            parsed = parse(name.replace("\\", "/"))
            danger = unsafe_reason(info, name)
            if danger:
                refused.append(f"{name}: {danger}")
                if parsed and parsed.file_name in COLLECTED_NAMES and ".." not in name:
                    handin = handins.setdefault((parsed.name, parsed.number), LmsHandin(parsed.name, parsed.number))
                    handin.problems.append(f"{parsed.file_name}: {danger}")
                continue
            if parsed is None:
                ignored.append(f"{name}: not named as a {kind.capitalize()} export names submissions")
                continue
            handin = handins.setdefault((parsed.name, parsed.number), LmsHandin(parsed.name, parsed.number))
            if parsed.file_name not in COLLECTED_NAMES:
                ignored.append(name)
                continue
            if parsed.file_name in handin.rank and handin.rank[parsed.file_name] >= parsed.rank:
                continue  # an older Canvas resubmission of a file already read
            if info.file_size > max_bytes:
                handin.problems.append(f"{parsed.file_name}: {info.file_size / 2**20:.1f} MB, over the "
                                       f"{max_bytes / 2**20:g} MB cap (course.max_file_mb): refused")
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(max_bytes + 1)  # never trust the header's size alone
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as error:
                handin.problems.append(f"{parsed.file_name}: unreadable in the zip ({error})")
                continue
            if len(data) > max_bytes:
                handin.problems.append(f"{parsed.file_name}: over the {max_bytes / 2**20:g} MB cap "
                                       f"(course.max_file_mb): refused")
                continue
            handin.files[parsed.file_name] = data
            handin.entries[parsed.file_name] = name
            handin.times[parsed.file_name] = entry_time(info, zone)
            handin.rank[parsed.file_name] = parsed.rank
            handin.late_marks[parsed.file_name] = parsed.lms_late
    for handin in handins.values():
        _keep_latest_model(handin)
    return Export(kind, list(handins.values()), refused, ignored)


def _keep_latest_model(handin: LmsHandin) -> None:
    """If both model.py and model.ipynb were handed in, keep the later one (by resubmission rank)."""
    present = [name for name in MODEL_FILES if name in handin.files]
    if len(present) < 2:
        return
    keep = max(present, key=lambda name: (handin.rank[name], handin.times[name] or datetime.datetime.min.replace(
        tzinfo=datetime.timezone.utc)))
    for name in present:
        if name != keep:
            for table in (handin.files, handin.entries, handin.times, handin.rank, handin.late_marks):
                table.pop(name, None)
