"""The site's charts kept between builds, each under a hash of what it shows and of the code that
draws it, so that a build draws only the charts whose inputs changed.

A grade run that changes one track leaves every other track's charts as they were, and a build
after a settings change that moves no point draws nothing. The folder holds the charts of the last
build only: `save` removes the rest, so it does not grow with every change of a course.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from concurrent.futures import Future
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

from pipeline import atomic
from pipeline.reporting.chart_worker import ChartWorker, done

SUFFIX = ".svg"


def drawing_code_key(code: list[Path]) -> str:
    """The hash of the modules that draw a chart and of matplotlib's version: a chart drawn by
    other code is drawn again."""
    digest = hashlib.sha256(metadata.version("matplotlib").encode())
    for path in code:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _plain(value):
    """Dataclasses as dicts, for the key (one level: json.dumps comes back for nested ones, and
    dataclasses.asdict's deep copy of a thousand points was most of the key's cost)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return str(value)


class ChartCache:
    """`folder`: where the charts are kept (None: every chart is drawn, nothing is kept).
    `code`: the modules whose bytes draw the charts; a new version of them or of matplotlib
    draws every chart again. `worker`: where charts are drawn (chart_worker.py; None: here, at once)."""

    def __init__(self, folder: Optional[Path], code: list[Path], worker: Optional[ChartWorker] = None):
        self.folder = folder
        self._code_key = drawing_code_key(code)
        self._worker = worker or ChartWorker(parallel=False)
        self._used: set[str] = set()
        self._new: list[tuple[Path, Future]] = []  # drawn by this build, kept by `save`
        self.drawn = self.asked = 0

    def chart(self, draw: Callable[..., str], *args, **kwargs) -> Future:
        """A Future of draw(*args, **kwargs), or of the text it returned last time for the same arguments."""
        self.asked += 1
        path = None
        if self.folder is not None:
            inputs = json.dumps([self._code_key, draw.__name__, args, kwargs], default=_plain, sort_keys=True)
            name = hashlib.sha256(inputs.encode()).hexdigest() + SUFFIX
            self._used.add(name)
            path = self.folder / name
            try:
                return done(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                pass
        self.drawn += 1
        job = self._worker.submit(draw, *args, **kwargs)
        if path is not None:
            self._new.append((path, job))
        return job

    def save(self) -> None:
        """Keep the charts this build drew; remove every kept chart it did not use."""
        if self.folder is None:
            return
        for path, job in self._new:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, job.result())
        if self.folder.is_dir():
            for path in self.folder.glob("*" + SUFFIX):
                if path.name not in self._used:
                    path.unlink(missing_ok=True)

