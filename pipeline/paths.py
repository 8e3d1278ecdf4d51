"""Where every command reads and writes: one value, resolved once by the command line.

Nothing below the commands names these folders itself; it is handed the folder it works in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MIRROR_ENV = "GRADEBENCH_MIRROR"  # a local folder of dataset files, tried before the URLs


@dataclass(frozen=True)
class Paths:
    """Where every command reads and writes, relative to the repository root (where commands run).
    Resolved once by the command line and passed down; nothing below names these folders itself."""

    root: Path = Path(".")
    mirror: Optional[Path] = None  # GRADEBENCH_MIRROR: one subfolder per dataset

    @classmethod
    def from_environment(cls, root: Path = Path("."), environ=os.environ) -> "Paths":
        value = environ.get(MIRROR_ENV, "").strip()
        return cls(root, Path(value).expanduser() if value else None)

    @property
    def data_raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def data_prepared(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def feedback(self) -> Path:
        # Per-submission feedback (curves, images): written by grade, published by report; not a DVC output.
        return self.root / "feedback"

    @property
    def dvc_lock(self) -> Path:
        # What DVC recorded of each stage's outputs: each MLflow run names its prepared data's hash in it.
        return self.root / "dvc.lock"

    @property
    def mlruns(self) -> Path:
        # The artifacts of a local sqlite MLflow store (a tracking server keeps its own).
        return self.root / "mlruns"

    @property
    def site_key(self) -> Path:
        # The site key when GRADEBENCH_SITE_KEY is unset: made on the first report (mode 0600, git-ignored).
        return self.root / ".gradebench" / "site-key"

    @property
    def chart_cache(self) -> Path:
        # The report's cache: the site's charts of the last build and what it read from each feedback
        # image, reused where their inputs did not change (git- and DVC-ignored).
        return self.root / ".gradebench" / "chart-cache"

    @property
    def repo_cache(self) -> Path:
        # Mirrored student repositories, outside submissions/ (git-ignored): cloned once, fetched after.
        return self.root / ".gradebench" / "repos"
