"""LMS exports: Moodle and Canvas "download all submissions" zips, read without extracting.

Moodle:  `Alice Smith_12345_assignsubmission_file_/model.py` (one folder per participant; 12345 is
         Moodle's participant number). The flat form without folders,
         `Alice Smith_12345_assignsubmission_file_model.py`, is read too.
Canvas:  `smithalice_12345_67890_model.py` (12345: Canvas user id, 67890: the file's id), with
         `_LATE` after the name when Canvas saw it late, and `model-1.py`, `model-2.py` for
         resubmissions: the highest suffix (then the highest file id) is the one collected.

Only the model file (model.py or model.ipynb) and meta.yaml are taken; the other names a student
handed in are kept only to say what was found. Nothing is extracted to disk: each entry is inflated
in chunks, and reading stops at the size cap whatever the entry's header claims and whatever its
compression (stored, deflate, bzip2, LZMA; others are refused by name). The export as a whole is
capped too (course.max_export_mb inflated, course.max_export_entries entries), and its central
directory must account for the file from its first byte: a partial download is an error, never
read as whatever zip happens to sit at its end. Entries that would be dangerous to extract anyway
(`../` paths, absolute paths, symbolic links, encryption) are refused and reported.

Times. Canvas writes every entry with the time of the export, so Canvas entry times are never
used: its `_LATE` marker says late or on time, and days late come from Canvas's own submission
times when the instructor supplies them (lms_times). A Moodle entry's time is the time Moodle
stored the file: the extended timestamp (UTC) when present, else the DOS time (no time zone) read in
the deadline's time zone. A DOS time of 1980-01-01 (the format's zero) means no time.
"""

from __future__ import annotations

import bz2
import datetime
import lzma
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Optional

from pipeline.course.handin_names import COLLECTED_NAMES, MODEL_FILES

UTF8_NAME_FLAG = 0x800  # general purpose bit 11: the entry name is UTF-8
ENCRYPTED_FLAG = 0x1
DATA_DESCRIPTOR_FLAG = 0x8
EXTENDED_TIMESTAMP = 0x5455
SYMLINK_TYPE = 0o120000
FILE_TYPE_MASK = 0o170000
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # the 30 bytes before each entry's name
LOCAL_SIGNATURE = b"PK\x03\x04"
END_SIGNATURE = b"PK\x05\x06"
MAX_DESCRIPTOR = 24  # a data descriptor (zip64, with signature) after an entry's data
CHUNK = 64 * 1024  # compressed bytes fed to a decompressor at a time
METHOD_NAMES = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                zipfile.ZIP_LZMA: "LZMA", 9: "deflate64", 93: "zstd", 95: "xz", 98: "PPMd", 99: "AES"}

MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
MOODLE_FLAT = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_file_(?P<file>.+)$")
CANVAS_FILE = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<number>\d+)_(?P<attachment>\d+)_(?P<file>.+)$",
                         re.IGNORECASE)
RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<version>\d+)(?P<suffix>\.[^.]*)?$")


class ExportError(ValueError):
    """The export cannot be read as a whole (wrong file, partial download, over a limit): exit 2."""


class EntryRefused(Exception):
    """One entry cannot be read (over the cap, unsupported compression, corrupt); the message says why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_file_mb: float  # one collected file, inflated
    max_export_mb: float  # everything inflated from the export
    max_entries: int

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 2**20)

    @property
    def max_total_bytes(self) -> int:
        return int(self.max_export_mb * 2**20)

    def file_cap_text(self) -> str:
        return f"the {self.max_file_mb:g} MB cap (course.max_file_mb)"


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
    if info.flag_bits & ENCRYPTED_FLAG:
        return "encrypted: refused"
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


# ---- reading the archive within its limits -------------------------------------------------------

def _declared_entries(stream: BinaryIO) -> Optional[int]:
    """The entry count in the end-of-central-directory record, read before zipfile builds its list
    (a directory of millions of entries would cost memory first), or None for zip64 and odd files."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(max(0, size - (22 + 65535)))
    tail = stream.read()
    position = tail.rfind(END_SIGNATURE)
    if position < 0 or len(tail) - position < 22:
        return None
    (entries,) = struct.unpack("<H", tail[position + 10:position + 12])
    return None if entries == 0xFFFF else entries


def _data_start(stream: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Where the entry's compressed bytes begin, from its local header (its extra field may differ
    from the central directory's)."""
    stream.seek(info.header_offset)
    header = stream.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_SIGNATURE:
        raise EntryRefused("no local header where the zip's directory says: the export is damaged")
    fields = LOCAL_HEADER.unpack(header)
    return info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]


def check_coverage(stream: BinaryIO, archive: zipfile.ZipFile, zip_path: Path) -> None:
    """The central directory must account for the file from offset 0 to its own start.

    A truncated download loses the real directory; zipfile then finds the directory of whatever zip
    ends the partial file (a student's uncompressed inner zip) and reads that instead.
    """
    again = "download the export again"
    infos = sorted(archive.infolist(), key=lambda info: info.header_offset)
    if not infos:
        return
    if infos[0].header_offset != 0:
        raise ExportError(f"{zip_path}: the zip's directory starts {infos[0].header_offset} bytes into the file, "
                          f"so it is not this export's own (a partial download?); {again}")
    for info, following in zip(infos, [*infos[1:], None]):
        try:
            end = _data_start(stream, info) + info.compress_size
        except EntryRefused:
            raise ExportError(f"{zip_path}: {entry_name(info)} has no local header where the zip's directory "
                              f"says: the file is damaged or partial; {again}") from None
        next_start = following.header_offset if following is not None else archive.start_dir
        if not 0 <= next_start - end <= MAX_DESCRIPTOR:
            raise ExportError(f"{zip_path}: the zip's directory does not account for bytes {end}-{next_start} "
                              f"after {entry_name(info)}: the file is damaged or partial; {again}")


class _Inflater:
    """One entry's decompressor, the same way for every method: decompress(data, max_length) never
    returns more than max_length, and what it could not use yet it keeps (bz2, lzma) or we feed back
    (zlib's unconsumed_tail)."""

    def __init__(self, method: int, first: bytes):
        self.method = method
        if method == zipfile.ZIP_DEFLATED:
            self.engine = zlib.decompressobj(-15)
        elif method == zipfile.ZIP_BZIP2:
            self.engine = bz2.BZ2Decompressor()
        elif method == zipfile.ZIP_LZMA:
            # The zip LZMA header: version (2 bytes), properties size (2), properties; then raw
            # LZMA1, decoded the way zipfile itself does.
            if len(first) < 4:
                raise EntryRefused("corrupt (LZMA entry too short)")
            (size,) = struct.unpack("<H", first[2:4])
            properties, first = first[4:4 + size], first[4 + size:]
            try:
                filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, properties)]  # noqa: SLF001
                self.engine = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            except lzma.LZMAError:
                raise EntryRefused("corrupt (LZMA properties unreadable)") from None
        else:
            name = METHOD_NAMES.get(method, f"method {method}")
            raise EntryRefused(f"compressed with {name}, which collect does not read (stored, deflate, bzip2 "
                               f"and LZMA are read): ask for the file itself")
        self.first = first

    def decompress(self, data: bytes, limit: int) -> bytes:
        if self.method == zipfile.ZIP_DEFLATED:
            return self.engine.decompress(self.engine.unconsumed_tail + data, limit)
        return self.engine.decompress(data, limit)

    @property
    def wants_input(self) -> bool:
        if self.method == zipfile.ZIP_DEFLATED:
            return not self.engine.unconsumed_tail
        return self.engine.needs_input

    @property
    def finished(self) -> bool:
        return self.engine.eof


def read_entry(stream: BinaryIO, info: zipfile.ZipInfo, cap: int) -> bytes:
    """The entry's bytes, inflated chunk by chunk; EntryRefused as soon as more than `cap` come out,
    whatever the header claims."""
    start = _data_start(stream, info)
    remaining = info.compress_size
    stream.seek(start)

    def next_chunk() -> bytes:
        nonlocal remaining
        chunk = stream.read(min(CHUNK, remaining))
        remaining -= len(chunk)
        return chunk

    over = EntryRefused("over the cap")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size > cap:
            raise over
        data = stream.read(info.compress_size)
    else:
        inflater = _Inflater(info.compress_type, next_chunk())
        pending = inflater.first
        parts: list[bytes] = []
        produced = 0
        try:
            while True:
                out = inflater.decompress(pending, cap + 1 - produced)
                pending = b""
                produced += len(out)
                parts.append(out)
                if produced > cap:
                    raise over
                if inflater.finished:
                    break
                if inflater.wants_input:
                    if remaining <= 0:
                        if not out:
                            break  # nothing more in or out: a short entry, which the checksum catches
                        continue  # let the decompressor hand over what it still holds
                    pending = next_chunk()
        except (zlib.error, OSError, lzma.LZMAError, EOFError) as error:
            raise EntryRefused(f"corrupt ({error})") from None
        data = b"".join(parts)
    if zlib.crc32(data) != info.CRC:
        raise EntryRefused("its checksum does not match: the export is damaged")
    return data


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


def _open(zip_path: Path, limits: ArchiveLimits) -> tuple[BinaryIO, zipfile.ZipFile]:
    try:
        stream = open(zip_path, "rb")
    except FileNotFoundError:
        raise ExportError(f"{zip_path}: not found") from None
    except OSError as error:
        raise ExportError(f"{zip_path}: cannot be read ({error.strerror})") from None
    try:
        declared = _declared_entries(stream)
        if declared is not None and declared > limits.max_entries:
            raise ExportError(f"{zip_path}: {declared} entries, over the {limits.max_entries} allowed "
                              f"(course.max_export_entries); raise it if this export is genuine")
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        stream.close()
        if isinstance(error, ExportError):
            raise
        raise ExportError(f"{zip_path}: not a readable zip file ({error}); download the export again") from None
    if len(archive.infolist()) > limits.max_entries:
        stream.close()
        raise ExportError(f"{zip_path}: {len(archive.infolist())} entries, over the {limits.max_entries} "
                          f"allowed (course.max_export_entries); raise it if this export is genuine")
    return stream, archive


def read_export(kind: str, zip_path: Path, limits: ArchiveLimits, zone: datetime.tzinfo) -> Export:
    """Every student's collected files from a Moodle or Canvas zip; see the module doc."""
    parse = PARSERS[kind]
    stream, archive = _open(zip_path, limits)
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
