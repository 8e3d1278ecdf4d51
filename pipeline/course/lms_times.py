"""Submission times as the LMS recorded them, from files the instructor downloads beside the export.

Canvas (`--times`): the Submissions API's JSON saved to a file,
    GET /api/v1/courses/:course/assignments/:assignment/submissions?per_page=100
a list of objects with `user_id`, `submitted_at` (ISO 8601, UTC), `late` and `seconds_late`; one
file per page if there are several. Or a CSV with the same column names (`user_id` or `ID`,
`submitted_at`, optionally `late`, `seconds_late`). Canvas's gradebook export has scores but no
submission times, so it is refused with a message saying so.

Moodle (`--times`): the assignment's grading worksheet ("Download grading worksheet"), a CSV with
`Identifier` ("Participant 12345", the number in the export's folder names) and
`Last modified (submission)`, e.g. "Saturday, 1 March 2025, 4:59 PM" (English, Moodle's
strftimedatetime) or "Saturday, March 1, 2025, 4:59 PM" (English US), "-" when nothing was
submitted. Moodle writes it in the downloading user's time zone without saying which, so it is read
in the deadline's time zone, as the zip's own times are.
"""

from __future__ import annotations

import csv
import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


class TimesError(ValueError):
    """A --times file cannot be used; the message names the file, the line and the fix (exit 2)."""


@dataclass(frozen=True)
class RecordedTime:
    submitted_at: Optional[datetime.datetime]  # UTC; None: the LMS has no submission time
    late: Optional[bool] = None  # the LMS's own verdict, when it gives one
    seconds_late: Optional[int] = None
    source: str = ""  # "submissions.json" or "worksheet.csv:4", for messages


MOODLE_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %B %d, %Y, %I:%M %p")
PARTICIPANT = re.compile(r"^\s*Participant\s+(?P<number>\d+)\s*$")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TimesError(f"{path}: not found") from None
    except UnicodeDecodeError as error:
        raise TimesError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
                         f"save it as UTF-8") from None


def _canvas_time(value, where: str) -> Optional[datetime.datetime]:
    if value in (None, ""):
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TimesError(f"{where}: submitted_at {value!r} is not an ISO 8601 time like "
                         f"2025-03-01T16:59:00Z") from None
    if moment.tzinfo is None:
        raise TimesError(f"{where}: submitted_at {value!r} has no time zone (Canvas writes Z for UTC)")
    return moment.astimezone(datetime.timezone.utc)


def _flag(value) -> Optional[bool]:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _seconds(value) -> Optional[int]:
    if value in (None, ""):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def read_canvas_times(paths: list[Path]) -> dict[str, RecordedTime]:
    """Canvas user id -> its submission record, from API JSON or CSV files (module doc)."""
    records: dict[str, RecordedTime] = {}
    for path in paths:
        text = _read_text(path)
        if text.lstrip().startswith(("[", "{")):
            records.update(_canvas_json(path, text))
        else:
            records.update(_canvas_csv(path, text))
    return records


def _canvas_json(path: Path, text: str) -> dict[str, RecordedTime]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise TimesError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); save the API's answer as it "
                         f"came") from None
    if isinstance(raw, dict) and isinstance(raw.get("submissions"), list):
        raw = raw["submissions"]
    if not isinstance(raw, list):
        raise TimesError(f"{path}: expected the Submissions API's list of submissions, found a JSON "
                         f"{type(raw).__name__}")
    records = {}
    for index, item in enumerate(raw):
        where = f"{path}: submission {index}"
        if not isinstance(item, dict) or item.get("user_id") is None:
            raise TimesError(f"{where}: has no user_id; is this the Submissions API's answer?")
        records[str(item["user_id"])] = RecordedTime(_canvas_time(item.get("submitted_at"), where),
                                                     _flag(item.get("late")), _seconds(item.get("seconds_late")),
                                                     path.name)
    return records


def _canvas_csv(path: Path, text: str) -> dict[str, RecordedTime]:
    rows = list(csv.DictReader(text.splitlines()))
    header = list(rows[0].keys()) if rows else next(csv.reader(text.splitlines()), [])
    id_column = next((column for column in ("user_id", "ID") if column in header), None)
    if "submitted_at" not in header or id_column is None:
        if "Student" in header and "ID" in header:
            raise TimesError(f"{path}: a Canvas gradebook export has scores but no submission times; save the "
                             f"Submissions API's JSON instead (see the collect guide)")
        raise TimesError(f"{path}:1: expected columns user_id (or ID) and submitted_at, found {header}")
    records = {}
    for line, row in enumerate(rows, start=2):
        user = (row.get(id_column) or "").strip()
        if not user.isdigit():
            continue  # Canvas's gradebook puts "Points Possible" and blank lines among the students
        records[user] = RecordedTime(_canvas_time(row.get("submitted_at"), f"{path}:{line}"),
                                     _flag(row.get("late")), _seconds(row.get("seconds_late")), f"{path.name}:{line}")
    return records


def parse_moodle_time(text: str, zone: datetime.tzinfo) -> Optional[datetime.datetime]:
    """A worksheet's "Last modified (submission)" as UTC; None for "-" or empty; ValueError otherwise."""
    text = " ".join(text.split())
    if text in ("", "-"):
        return None
    for pattern in MOODLE_FORMATS:
        try:
            local = datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=zone).astimezone(datetime.timezone.utc)
    raise ValueError(text)


def read_moodle_worksheet(paths: list[Path], zone: datetime.tzinfo) -> dict[str, RecordedTime]:
    """Moodle participant number -> its "Last modified (submission)" time (module doc)."""
    records: dict[str, RecordedTime] = {}
    for path in paths:
        rows = list(csv.DictReader(_read_text(path).splitlines()))
        header = list(rows[0].keys()) if rows else []
        missing = [column for column in ("Identifier", "Last modified (submission)") if column not in header]
        if missing:
            raise TimesError(f"{path}:1: missing column(s) {missing}; use Moodle's \"Download grading "
                             f"worksheet\" CSV for this assignment")
        for line, row in enumerate(rows, start=2):
            match = PARTICIPANT.match(row.get("Identifier") or "")
            if not match:
                raise TimesError(f"{path}:{line}: Identifier {row.get('Identifier')!r} is not "
                                 f"\"Participant <number>\"")
            value = row.get("Last modified (submission)") or ""
            try:
                moment = parse_moodle_time(value, zone)
            except ValueError:
                raise TimesError(f"{path}:{line}: Last modified (submission) {value!r} is not a Moodle date "
                                 f"like 'Saturday, 1 March 2025, 4:59 PM'; download the worksheet with the "
                                 f"site language set to English") from None
            records[match["number"]] = RecordedTime(moment, source=f"{path.name}:{line}")
    return records
