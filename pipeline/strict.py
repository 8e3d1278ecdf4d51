"""The one pydantic base for every settings file and record the pipeline reads back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # Unknown keys are rejected so that a typo ("epoch:", "late_polcy:") is an error, not a silent
    # default; frozen, since a value resolved once must not change on its way down.
    model_config = ConfigDict(extra="forbid", frozen=True)
