"""The feedback images on each page of the course site: which of the grade stage's PNGs a page
links, and what the page says of each (the size it was drawn to be shown at, its data as a table).

What a page says of an image is read from the PNG's first chunks and turned into an HTML table:
three images per student, a fifth of a second per build at 1,000 students, redone for images
that did not change. `ImageFacts` keeps it between builds under the image's inode, mtime and size
(the grade stage writes new files rather than into old ones, so a redrawn image never matches).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Optional

from pipeline import atomic
from pipeline.reporting import feedback
from pipeline.reporting.site_files import SiteFiles, already_linked

# The feedback images a page shows (validation split only: see feedback.py).
FEEDBACK_IMAGES = {
    feedback.CURVES_PNG: "Learning curves: loss and accuracy per epoch, on the training and validation data",
    feedback.CONFUSION_PNG: "Confusion matrix on the validation data: true class by predicted class",
    feedback.MISCLASSIFIED_PNG: "Validation images the model gets wrong, with their true and predicted class",
}
FACTS_FILE = "image-facts.json"  # in the report's cache folder (Paths.chart_cache)
FACTS_FORMAT = 1


def table_html(rows: list[list], row_headers: bool) -> str:
    """An image's data (header first) as an HTML table: built here rather than in the template,
    whose per-cell cost was most of a 1,000-page build."""
    def cell(value) -> str:
        if value is None:
            return "–"
        return str(value) if isinstance(value, (int, float)) else html.escape(str(value))

    head = "".join(f'<th scope="col">{cell(value)}</th>' for value in rows[0])
    body = []
    for row in rows[1:]:
        cells = [f'<th scope="row">{cell(row[0])}</th>' if row_headers else f'<td class="number">{cell(row[0])}</td>']
        cells += [f'<td class="number">{cell(value)}</td>' for value in row[1:]]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _read_facts(source: Path, name: str) -> dict:
    facts = feedback.image_facts(source)
    return {"width": facts.width if facts else None, "height": facts.height if facts else None,
            "table": table_html(facts.table, row_headers=name == feedback.CONFUSION_PNG)
            if facts and facts.table else ""}


class ImageFacts:
    """What pages say of each image, kept in `folder`/image-facts.json between builds (None:
    read from every image). `save` keeps only the images this build asked for."""

    def __init__(self, folder: Optional[Path]):
        self.path = folder / FACTS_FILE if folder is not None else None
        self._kept: dict[str, dict] = {}
        self._used: dict[str, dict] = {}
        if self.path is not None:
            try:
                saved = json.loads(self.path.read_text())
                if saved.get("format") == FACTS_FORMAT:
                    self._kept = saved["images"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass  # none yet, or unreadable: every image is read once

    def of(self, source: Path, name: str) -> dict:
        """{width, height, table}: the image's shown size and its data as an HTML table ("")."""
        try:
            stat = os.stat(source)
            stamp = f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
        except OSError:
            stamp = None
        kept = self._kept.get(str(source))
        facts = kept["facts"] if kept and stamp and kept.get("stamp") == stamp else _read_facts(source, name)
        self._used[str(source)] = {"stamp": stamp, "facts": facts}
        return facts

    @property
    def used(self) -> dict[str, dict]:
        """What this build asked for so far (`use` adds what another process asked for)."""
        return self._used

    def use(self, used: dict[str, dict]) -> None:
        self._used.update(used)

    def save(self) -> None:
        if self.path is not None and self._used != self._kept:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps({"format": FACTS_FORMAT, "images": self._used}))


def feedback_images(feedback_dir: Path, submission: str, track_name: str, site_dir: Path, page: str,
                    files: SiteFiles, facts: ImageFacts) -> list[dict]:
    """The feedback PNGs the grade stage drew for one submission (feedback.py: validation split
    only, titled by track), to be linked into its page folder as <track>_<name>; returns, per image,
    its src, alt text, the size it was drawn to be shown at, and its data as a table (empty for
    images drawn before the data was kept beside them). An image without feedback.py's
    id-free mark (drawn by an older version, titled with the submission's id) is left out rather
    than published. One that an earlier build linked already passed that check: the grade stage
    draws new files rather than writing into old ones."""
    images = []
    for name, alt in FEEDBACK_IMAGES.items():
        source = feedback_dir / submission / name
        relative = f"{page}/{track_name}_{name}"
        if already_linked(site_dir / relative, source) or (source.is_file() and feedback.is_id_free(source)):
            files.link(relative, source)
            images.append({"src": f"{track_name}_{name}", "alt": alt, **facts.of(source, name),
                           "kind": name.removesuffix(".png")})
    return images
