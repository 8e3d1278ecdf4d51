"""roster.csv: who is in the course, their repository and the name the LMS knows them by.

    student_id,display_name,repo,lms_name
    s001,Student 1,https://github.com/course/hw1-alice.git,Alice Smith

Only student_id is required. It becomes the folder name submissions/<student_id>/, so it must be
a plain, safe name (the same rule as `python -m pipeline new`). Every problem in the file is
reported at once, one line each, naming the line number.
"""

from __future__ import annotations

import csv
import itertools
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pipeline.config import SAFE_ID

COLUMNS = ("student_id", "display_name", "repo", "lms_name")
REQUIRED = ("student_id",)


class RosterError(ValueError):
    """roster.csv is missing or has bad rows; the message lists every problem with its line."""


@dataclass(frozen=True)
class Student:
    student_id: str
    display_name: Optional[str] = None
    repo: Optional[str] = None
    lms_name: Optional[str] = None
    line: int = 0


def fold_accents(name: str) -> str:
    """The name without accents: "Zoë López" -> "Zoe Lopez" (NFKD, then combining marks dropped)."""
    return "".join(character for character in unicodedata.normalize("NFKD", name)
                   if not unicodedata.combining(character))


def name_key(name: str, ignore_accents: bool = False) -> str:
    """How LMS names are compared: case, accents' composition, spaces and punctuation ignored
    (and accents themselves with ignore_accents, course.ignore_accents).

    Moodle writes "Alice Smith", Canvas "smithalice" or "alicesmith"; both reduce to letters and
    digits only, so "Alice  Smith" and "alice smith" are the same person.
    """
    normal = unicodedata.normalize("NFC", fold_accents(name) if ignore_accents else name).casefold()
    return "".join(character for character in normal if character.isalnum())


def name_keys(name: str, ignore_accents: bool = False) -> set[str]:
    """name_key of the name's words in every order: Canvas writes "Smith, Alice" as "smithalice".

    Only for names of at most four words (24 orders); longer names match in their own order only.
    """
    words = [word for word in unicodedata.normalize("NFC", name).split() if name_key(word)]
    if not 1 < len(words) <= 4:
        return {name_key(name, ignore_accents)}
    return {"".join(name_key(word, ignore_accents) for word in order) for order in itertools.permutations(words)}


def load_roster(path: Path) -> list[Student]:
    """Read and check roster.csv, or raise RosterError listing every bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often add a byte-order mark
    except FileNotFoundError:
        raise RosterError(f"{path}: not found; set course.roster in params.yaml to your class list "
                          f"(columns: {', '.join(COLUMNS)})") from None
    except UnicodeDecodeError as error:
        raise RosterError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
                          f"save it as CSV UTF-8") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RosterError(f"{path}: empty; the first line must name the columns, e.g. {','.join(COLUMNS)}")
    header = [cell.strip() for cell in rows[0]]
    if len(header) == 1 and ";" in header[0]:
        # What Excel writes as "CSV" where the decimal separator is a comma.
        raise RosterError(f"{path}:1: this looks semicolon-separated; save it as CSV with commas "
                          f"(the header is {header[0]!r})")
    problems = []
    unknown = [column for column in header if column not in COLUMNS]
    missing = [column for column in REQUIRED if column not in header]
    if unknown:
        problems.append(f"{path}:1: unknown column(s) {unknown}; allowed: {', '.join(COLUMNS)}")
    if missing:
        problems.append(f"{path}:1: missing column(s) {missing}")
    if len(set(header)) != len(header):
        problems.append(f"{path}:1: a column is named twice: {header}")
    if problems:
        raise RosterError(f"{path} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))

    students: list[Student] = []
    first_line_of_id: dict[str, int] = {}
    first_line_of_name: dict[str, int] = {}
    for line, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are harmless
        if len(cells) != len(header):
            problems.append(f"{path}:{line}: {len(cells)} field(s), expected {len(header)} "
                            f"({','.join(header)}); quote a value that contains a comma")
            continue
        values = {column: (cell.strip() or None) for column, cell in zip(header, cells)}
        student_id = values.get("student_id") or ""
        if not SAFE_ID.match(student_id):
            problems.append(f"{path}:{line}: student_id {student_id!r} is not a safe folder name: use letters, "
                            f"digits, '_', '-' or '.', starting with a letter or digit (at most 64)")
            continue
        if student_id in first_line_of_id:
            problems.append(f"{path}:{line}: student_id {student_id!r} is already on line "
                            f"{first_line_of_id[student_id]}")
            continue
        first_line_of_id[student_id] = line
        lms_name = values.get("lms_name")
        if lms_name is not None:
            key = name_key(lms_name)
            if not key:
                problems.append(f"{path}:{line}: lms_name {lms_name!r} has no letters or digits")
                continue
            if key in first_line_of_name:
                problems.append(f"{path}:{line}: lms_name {lms_name!r} matches line {first_line_of_name[key]}'s "
                                f"too (case and spaces are ignored); an export could not tell them apart")
                continue
            first_line_of_name[key] = line
        repo = values.get("repo")
        if repo is not None and repo.startswith("-"):
            problems.append(f"{path}:{line}: repo {repo!r} is not a git URL")
            continue
        students.append(Student(student_id, values.get("display_name"), repo, lms_name, line))
    if problems:
        raise RosterError(f"{path} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return students
