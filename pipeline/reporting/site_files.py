"""The course site's files: collected in memory by a build, then written where they differ.

A build used to delete site/ and write every page and image link again. At 1,000 students that
was about 4,000 files removed and created for a one-submission change, and DVC then hashed each
of them again (its hash cache is keyed on inode and mtime). Now a build collects what site/ must
hold (`SiteFiles`), the leak check reads those texts before anything is written, and `sync`
touches only what differs: an image that is already a hard link to its source keeps its inode,
an unchanged page keeps its mtime, and files no longer wanted (pages of deleted submissions, or
of an old key) are removed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SiteFiles:
    """What one build puts in site/, by path relative to it: texts, and files linked from results/."""

    texts: dict[str, str] = field(default_factory=dict)
    links: dict[str, Path] = field(default_factory=dict)

    def write(self, relative: str, text: str) -> None:
        self.texts[relative] = text

    def link(self, relative: str, source: Path) -> None:
        self.links[relative] = source


def already_linked(target: Path, source: Path) -> bool:
    """Whether `target` is `source` itself (a hard link made by an earlier build)."""
    try:
        return os.path.samefile(target, source)
    except OSError:
        return False


def _same_text(target: Path, data: bytes) -> bool:
    try:
        return target.stat().st_size == len(data) and target.read_bytes() == data
    except OSError:
        return False


def sync(site_dir: Path, files: SiteFiles) -> int:
    """Make `site_dir` hold exactly `files`; return how many files were written or linked."""
    wanted = set(files.texts) | set(files.links)
    if site_dir.exists():
        for root, _, names in os.walk(site_dir):
            for name in names:
                path = Path(root, name)
                if path.relative_to(site_dir).as_posix() not in wanted:
                    path.unlink()
    written = 0
    for relative, text in files.texts.items():
        target, data = site_dir / relative, text.encode("utf-8")
        if not _same_text(target, data):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written += 1
    for relative, source in files.links.items():
        target = site_dir / relative
        if not already_linked(target, source):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source, target)  # the grade stage replaces its images, never writes into them
            except OSError:
                shutil.copyfile(source, target)  # results/ on another file system
            written += 1
    for root, _, _ in sorted(os.walk(site_dir), key=lambda entry: len(entry[0]), reverse=True):
        if Path(root) != site_dir and not os.listdir(root):
            os.rmdir(root)  # the folder of a page that is gone
    return written
