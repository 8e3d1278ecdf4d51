"""The `course:` section of params.yaml: roster, deadlines, late policy, extensions, limits, template.

It sits beside pipeline.config (which embeds it) rather than in pipeline/course, so that config
imports nothing above the bottom layer.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from pipeline.strict import Strict

EXAMPLE_DEADLINE = "2025-03-01T17:00:00+00:00"



class AcceptLate(Strict):
    """Late work is accepted and flagged (late, late_days), with no penalty."""

    kind: Literal["accept"]


class PenaltyLate(Strict):
    """percent_per_day of the marks is taken off per started day late; beyond max_days it is rejected."""

    kind: Literal["penalty"]
    percent_per_day: float = Field(gt=0, le=100)
    max_days: int = Field(ge=0)


class RejectLate(Strict):
    """Late work is accepted and flagged for after_days days, then rejected (not collected)."""

    kind: Literal["reject"]
    after_days: int = Field(ge=0)


class StarterTemplate(Strict):
    """GitHub Classroom's starter code: a commit whose tree equals it is not a hand-in.

    repo: the template repository (any git URL or path); commit: a commit or branch in it
    (default: its default branch). Without repo, commit is looked up in each student's repository.
    """

    repo: str | None = None
    commit: str = "HEAD"


LatePolicy = Annotated[Union[AcceptLate, PenaltyLate, RejectLate], Field(discriminator="kind")]


def _aware(value: datetime.datetime, where: str) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{where}: {value.isoformat()} has no time zone; write it as ISO 8601 with an offset, "
                         f"e.g. {EXAMPLE_DEADLINE} or 2025-03-01T17:00:00Z")
    return value


class CourseSettings(Strict):
    # The class list; a relative path is read from the directory collect runs in (the repo root).
    roster: Path = Path("roster.csv")
    # Track name -> deadline (ISO 8601 with a time zone). A track without one has no late work.
    deadlines: dict[str, datetime.datetime] = {}
    # What happens to work handed in after the deadline; the default flags it and nothing more.
    late_policy: LatePolicy = AcceptLate(kind="accept")
    # Student id -> that student's own deadline, for every track (an instructor's manual override).
    extensions: dict[str, datetime.datetime] = {}
    # Files bigger than this are refused: a model.py is kilobytes, a notebook with outputs a few MB.
    max_file_mb: float = Field(default=10, gt=0, le=1024)
    # An export is refused beyond these: the bytes inflated from it in total, and its entries. A
    # class of 300 hand-ins is a few MB in a few thousand entries; these only stop a zip bomb.
    max_export_mb: float = Field(default=1024, gt=0)
    max_export_entries: int = Field(default=100_000, gt=0)
    # "Zoë López" in the LMS matches "Zoe Lopez" in the roster (registrars often drop accents).
    ignore_accents: bool = True
    # GitHub Classroom's starter code; commits by github-classroom[bot] are never a hand-in either.
    template: StarterTemplate | None = None

    @field_validator("deadlines", "extensions", mode="before")
    @classmethod
    def _dates_parse_first(cls, value):
        # A bare date (2025-03-01) comes out of YAML as a date, which would silently mean midnight in
        # no time zone; say what is wanted instead.
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, datetime.date) and not isinstance(item, datetime.datetime):
                    raise ValueError(f"{key}: {item.isoformat()} is a date without a time and time zone; "
                                     f"write e.g. {item.isoformat()}T23:59:00+00:00")
        return value

    @field_validator("deadlines", "extensions")
    @classmethod
    def _dates_have_time_zones(cls, value: dict[str, datetime.datetime]) -> dict[str, datetime.datetime]:
        return {key: _aware(moment, key) for key, moment in value.items()}

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_export_bytes(self) -> int:
        return int(self.max_export_mb * 1024 * 1024)

    def deadline(self, track: str | None, student_id: str) -> datetime.datetime | None:
        """The student's extension if any, else the track's deadline, else None (nothing is late)."""
        if student_id in self.extensions:
            return self.extensions[student_id]
        if track is None:
            return None
        return self.deadlines.get(track)
