"""LMS exports: Moodle and Canvas "download all submissions" zips, read without extracting.

Moodle:  `Alice Smith_12345_assignsubmission_file_/model.py` (one folder per participant; 12345 is
         Moodle's participant number). The flat form without folders,
         `Alice Smith_12345_assignsubmission_file_model.py`, is read too.
Canvas:  `smithalice_12345_67890_model.py` (12345: Canvas user id, 67890: the file's id), with
         `_LATE` after the name when Canvas saw it late, and `model-1.py`, `model-2.py` for
         resubmissions: the highest suffix (then the highest file id) is the one collected.

Only the model file (model.py or model.ipynb) and meta.yaml are taken; the other names a student
handed in are kept only to say what was found. Nothing is extracted to disk, and every limit on
the zip itself (sizes, entries, partial downloads, dangerous entries) is archive.py's.

Times. Canvas writes every entry with the time of the export, so Canvas entry times are never
used: its `_LATE` marker says late or on time, and days late come from Canvas's own submission
times when the instructor supplies them (lms_times). A Moodle entry's time is the time Moodle
stored the file: the extended timestamp (UTC) when present, else the DOS time (no time zone) read in
the deadline's time zone. A DOS time of 1980-01-01 (the format's zero) means no time.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pipeline.course.archive import (ArchiveLimits, EntryRefused, ExportError, check_coverage, entry_name,
                                     entry_time, open_export, read_entry, unsafe_reason)
from pipeline.course.handin_names import COLLECTED_NAMES, MODEL_FILES

MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
MOODLE_FLAT = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_file_(?P<file>.+)$")
CANVAS_FILE = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<number>\d+)_(?P<attachment>\d+)_(?P<file>.+)$",
                         re.IGNORECASE)
RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<version>\d+)(?P<suffix>\.[^.]*)?$")


@dataclass
class LmsHandin:
    """One student's entries in an export."""

    name: str  # the name as the LMS wrote it ("Alice Smith", "smithalice")
    number: str  # Moodle participant number / Canvas user id
    files: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)  # collected name -> the export's entry name
    times: dict[str, Optional[datetime.datetime]] = field(default_factory=dict)
    late_marks: dict[str, bool] = field(default_factory=dict)  # collected name -> Canvas marked it _LATE
    problems: list[str] = field(default_factory=list)  # a collected name that could not be read
    warnings: list[str] = field(default_factory=list)  # read, but worth saying (duplicates)
    found: list[str] = field(default_factory=list)  # every file name handed in, for "found ..." messages
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


# ---- names -----------------------------------------------------------------------------------------

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
    file_name: str  # the path inside the student's hand-in; collected if one of COLLECTED_NAMES
    rank: tuple[int, int] = (0, 0)
    lms_late: bool = False
    handed_in: bool = True  # False for what Moodle adds itself (online text, feedback)


def _parse_moodle(path: str) -> Optional[_Parsed]:
    parts = path.split("/")
    if len(parts) == 1:
        match = MOODLE_FLAT.match(parts[0])
        return _Parsed(match["name"], match["number"], match["file"]) if match else None
    match = MOODLE_FOLDER.match(parts[0])
    if not match:
        return None
    return _Parsed(match["name"], match["number"], "/".join(parts[1:]), handed_in=match["plugin"] == "file")


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



def read_export(kind: str, zip_path: Path, limits: ArchiveLimits, zone: datetime.tzinfo) -> Export:
    """Every student's collected files from a Moodle or Canvas zip; see the module doc."""
    parse = PARSERS[kind]
    stream, archive = open_export(zip_path, limits)
    handins: dict[tuple[str, str], LmsHandin] = {}
    refused: list[str] = []
    ignored: list[str] = []
    inflated = 0
    with stream, archive:
        check_coverage(stream, archive, zip_path)
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
            if parsed.handed_in:
                handin.found.append(parsed.file_name)
            if parsed.file_name not in COLLECTED_NAMES or not parsed.handed_in:
                ignored.append(name)
                continue
            earlier = handin.entries.get(parsed.file_name)
            if earlier is not None and handin.rank[parsed.file_name] > parsed.rank:
                continue  # an older Canvas resubmission of a file already read
            try:
                data = read_entry(stream, info, limits.max_file_bytes)
            except EntryRefused as refusal:
                reason = (f"over {limits.file_cap_text()} once inflated: refused" if str(refusal) == "over the cap"
                          else f"unreadable in the zip: {refusal}")
                handin.problems.append(f"{parsed.file_name}: {reason}")
                continue
            inflated += len(data)
            if inflated > limits.max_total_bytes:
                raise ExportError(f"{zip_path}: over {limits.max_export_mb:g} MB once inflated "
                                  f"(course.max_export_mb) by {name}; raise it if this export is genuine")
            if earlier is not None and handin.rank[parsed.file_name] == parsed.rank:
                # The same file twice in one zip: the later entry was written last, so it wins.
                what = (f"duplicate entry {name}" if earlier == name
                        else f"{earlier} and {name} both hold {parsed.file_name}")
                handin.warnings.append(f"{what} in the export: took the later one ({len(data)} bytes), "
                                       f"not the earlier ({len(handin.files[parsed.file_name])} bytes)")
            handin.files[parsed.file_name] = data
            handin.entries[parsed.file_name] = name
            handin.times[parsed.file_name] = entry_time(info, zone) if kind == "moodle" else None
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
