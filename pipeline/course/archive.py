"""Reading a zip export within limits, without extracting it: entries inflated in chunks up to a cap.

Reading stops at the size cap whatever an entry's header claims and whatever its compression
(stored, deflate, bzip2, LZMA; others are refused by name). The export as a whole is capped too
(course.max_export_mb inflated, course.max_export_entries entries), and its central directory must
account for the file from its first byte: a partial download is an error, never read as whatever
zip happens to sit at its end. Entries that would be dangerous to extract anyway (`../` paths,
absolute paths, symbolic links, encryption) are refused with the reason.
"""

from __future__ import annotations

import bz2
import datetime
import lzma
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Optional

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



def open_export(zip_path: Path, limits: ArchiveLimits) -> tuple[BinaryIO, zipfile.ZipFile]:
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

