"""Results -> site/: the static course site (public leaderboard and its history, a private feedback page per submission).

    site/index.html                       every track: the leaderboard with the public part's size and
                                          what one image is worth, accuracy-vs-parameters and
                                          accuracy-vs-compute (Pareto) and the leaderboard over time,
                                          each chart drawn for a phone and a desktop
    site/charts/history-<track>-*.svg     the chart over time behind every feedback page (leader, median)
    site/feedback/<keyed hash>/index.html one page per submission (all its tracks): its row in the
                                          leaderboard, its own line over time, grade band, plots and their data
    results/site_links.csv                submission, student_id, page: the links the instructor
                                          mails to students (never inside site/)

Every file works opened from disk (file://) or from any static host: no script, no external
request, charts are inline SVG (site_charts.py) and images are the grade stage's PNGs beside their
page (feedback.py draws them for a phone's width and keeps their data inside them as a table).
Phone first: on a narrow screen the tables keep rank, name, accuracy and status, the rest in
<details>; nothing is wider than the screen.

What may be shown is decided in one place: the rows come from `leaderboard.export`, which drops
the private and full-test scores while `leaderboard.reveal_private` is off; real ids (folder names
and student ids) are replaced by display names unless `site.show_ids`; and before returning,
`check_no_leaks` reads every written file for the site key, real ids and hidden-score keys.
The feedback page's path is an HMAC-SHA256 of the id keyed with the site key: GRADEBENCH_SITE_KEY,
else .gradebench/site-key, created with a random key on the first run (`resolve_key`), so that a
fresh clone's first `dvc repro` writes feedback pages and no one can enumerate the others' pages.
"""

from __future__ import annotations

import csv
import datetime
import html
import json
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import status
from pipeline.config import ConfigError
from pipeline.grading.submission_facts import MetaError, load_meta
from pipeline.reporting import feedback, history, leaderboard, pseudonyms, rubric, site_charts
from pipeline.reporting.site_files import SiteFiles, already_linked, sync

SITE_KEY_ENV = "GRADEBENCH_SITE_KEY"
FEEDBACK_DIR = "feedback"
CHARTS_DIR = "charts"  # charts shared by the feedback pages
LINKS_FILE = "site_links.csv"
TEMPLATES_DIR = Path(__file__).with_name("site_templates")
# The feedback images a page shows (validation split only: see feedback.py).
FEEDBACK_IMAGES = {
    feedback.CURVES_PNG: "Learning curves: loss and accuracy per epoch, on the training and validation data",
    feedback.CONFUSION_PNG: "Confusion matrix on the validation data: true class by predicted class",
    feedback.MISCLASSIFIED_PNG: "Validation images the model gets wrong, with their true and predicted class",
}
LOG_TAIL_LINES = 60
EVERY_LINE_ON_A_PHONE_UP_TO = 50  # submissions; beyond, the phone's history chart shows the class median
# Key names that must not appear anywhere in site/ while the private part is hidden.
HIDDEN_SCORE_KEYS = ("private_accuracy", "test_accuracy")
# Placeholder for the student's folder in the check command (the real folder name is an id).
FOLDER_PLACEHOLDER = "YOUR_FOLDER"
MIN_KEY_BYTES = 16
# Created on the first run when GRADEBENCH_SITE_KEY is unset (relative to the project folder).
KEY_FILE = Path(".gradebench/site-key")


class SiteError(ValueError):
    """The site cannot be built safely (a short key, or something private would be published)."""


class SiteKeyError(ConfigError):
    """The site key is unusable (too short): a configuration mistake, exit code 2."""


def _checked(value: str, where: str, instead: str) -> bytes:
    if len(value.encode("utf-8")) < MIN_KEY_BYTES:
        raise SiteKeyError(
            f"{where} holds a site key of {len(value)} characters; a key must be at least {MIN_KEY_BYTES} random "
            f"characters, or anyone could guess the feedback pages' addresses. Make a good one with "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or {instead}")
    return value.encode("utf-8")


def key_from_env(environ=os.environ) -> Optional[bytes]:
    """The site key from GRADEBENCH_SITE_KEY, or None when unset; a key too short to be secret is an error."""
    value = environ.get(SITE_KEY_ENV, "")
    return _checked(value, SITE_KEY_ENV, f"unset {SITE_KEY_ENV} to use {KEY_FILE} (created on the first run)") \
        if value else None


def resolve_key(environ=os.environ, key_file: Path = KEY_FILE) -> tuple[bytes, str]:
    """The site key and a line saying where it came from: GRADEBENCH_SITE_KEY if set, else the key
    file, created on the first run with a random key (mode 0600, in the git-ignored .gradebench/),
    so that the very first `dvc repro` writes feedback pages. The same key must be used on every
    run: the pages' addresses (and the pseudonyms) are derived from it."""
    from_env = key_from_env(environ)
    if from_env is not None:
        return from_env, f"site key: from {SITE_KEY_ENV}"
    try:
        instead = f"delete {key_file} to have a new one made (every feedback page then gets a new address)"
        return _checked(key_file.read_text().strip(), str(key_file), instead), f"site key: {key_file} (reused)"
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: two runs at once never write two different keys; 0600: only this user reads it.
    handle = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as writer:
        writer.write(value + "\n")
    return value.encode("utf-8"), (
        f"site key: created {key_file} (mode 0600, git-ignored). Keep this file, and back it up: every "
        f"feedback page's address comes from it, so a new key gives every student a new address (the links "
        f"already mailed stop working). To use a key of your own instead, set {SITE_KEY_ENV}.")


def feedback_token(submission_id: str, key: bytes) -> str:
    """The unguessable folder name of a submission's feedback page (128 bits of a keyed hash)."""
    return pseudonyms.keyed_digest(key, "feedback", submission_id).hex()[:32]


@dataclass
class Entry:
    """One row of a track's leaderboard as the site shows it (no id, no hidden score unless revealed)."""

    submission: str  # never rendered: used to join and to redact
    name: str
    baseline: bool
    status: str
    error: str
    rank: Optional[int]
    public_accuracy: Optional[float]
    public_accuracy_std: Optional[float]
    private_accuracy: Optional[float]
    trainable_params: Optional[int]
    total_params: Optional[int]  # every parameter, trainable or not: the budget's and the front's count
    train_seconds: Optional[float]
    pareto: bool
    validation_accuracy: Optional[float] = None
    mflops_per_image: Optional[float] = None  # None: graded before the grader counted FLOPs
    images_per_second: Optional[float] = None
    pareto_compute: bool = False
    last_submission: str = ""  # when it was handed in (its commit time), else first graded
    versions: int = 0  # how many versions of the folder the grader has seen
    rank_change: Optional[int] = None  # places moved up since the previous grade run (negative: down)
    new: bool = False  # ranked now, not at the previous grade run
    cpu_quota_cores: Optional[float] = None


@dataclass
class TrackContext:
    """What a track's numbers mean: the size of the hidden split's public part (None: unknown)."""

    hidden_images: Optional[int] = None
    public_fraction: float = 0.3
    max_mflops_per_image: Optional[float] = None  # the track's compute budget (limits), if it has one

    @property
    def public_images(self) -> Optional[int]:
        return None if self.hidden_images is None else max(1, round(self.hidden_images * self.public_fraction))

    @property
    def private_images(self) -> Optional[int]:
        return None if self.hidden_images is None else self.hidden_images - self.public_images


def decimals_for(images: Optional[int]) -> int:
    """Decimals that resolve one image and no finer (1,094 images: 1 image = 0.0009, so 4)."""
    if not images:
        return 4
    return min(5, max(2, math.ceil(math.log10(images))))


def train_time_label(quotas: list) -> str:
    """What a train time measures: a dedicated CPU quota if every training had the same one
    (`cpu_quota_cores` in its result record), else wall time on a machine shared with others."""
    values = {float(quota) for quota in quotas if quota is not None}
    if quotas and len(values) == 1 and all(quota is not None for quota in quotas):
        cores = values.pop()
        return f"on a dedicated CPU quota of {cores:g} core{'' if cores == 1 else 's'}"
    return "wall time on a shared machine"


def track_context(params, prepared_root: Path) -> dict[str, TrackContext]:
    """Each track's hidden-split size, from its prepared data's meta.json (counts only: no labels are
    read) and its subset; the public part is `public_fraction` of it (to within a few images, as the
    split rounds per class); and its compute budget."""
    from pipeline.data import layout

    found = {}
    fraction = params.leaderboard.hidden_split.public_fraction
    for track_name, track in params.tracks.items():
        try:
            hidden = int(layout.load_meta(prepared_root / track.dataset)["counts"]["hidden"])
        except (OSError, ValueError, KeyError, TypeError):
            found[track_name] = TrackContext(None, fraction, track.limits.max_mflops_per_image)
            continue
        if track.subset.hidden:
            hidden = min(hidden, track.subset.hidden)
        found[track_name] = TrackContext(hidden, fraction, track.limits.max_mflops_per_image)
    return found


@dataclass
class TrackView:
    name: str
    entries: list[Entry]
    pareto_svgs: list[str]  # one per chart variant (site_charts.VARIANTS)
    compute_svgs: list[str]  # the same against MFLOPs per image
    history_svgs: list[str]  # empty before two grade runs
    runs: list[dict]  # per grade run: time, leader, leader_accuracy, entries (the chart's text alternative)
    ranked_count: int = 0
    context: TrackContext = field(default_factory=TrackContext)
    decimals: int = 4
    time_label: str = "wall time on a shared machine"
    feedback_charts: list = field(default_factory=list)  # site_charts.Chart per variant: the base of each page's
    uncounted: int = 0  # ranked entries with no FLOPs figure, left out of the compute chart
    rows: list = field(default_factory=list)  # each entry's table row, rendered once


class Redactor:
    """Replaces real ids (folder names, student ids) in free text (logs, summaries, errors) by display
    names, the longest id first where ids overlap. Every id in one pass over the text (Aho-Corasick):
    one scan per id would make a site of 1,000 students a million scans of logs."""

    def __init__(self, replacements: dict[str, str]):
        self.replacements = replacements
        self._automaton = _automaton({real: real for real in replacements})

    def __call__(self, text: Optional[str]) -> str:
        text = text or ""
        if self._automaton is None:
            return text
        pieces, position = [], 0
        for end, real in self._automaton.iter_long(text):
            start = end - len(real) + 1
            pieces += [text[position:start], self.replacements[real]]
            position = end + 1
        pieces.append(text[position:])
        return "".join(pieces)


def _automaton(words: dict[str, object]):
    """An Aho-Corasick automaton finding every key of `words` (each match yields (end, value)); None if empty."""
    import ahocorasick

    if not words:
        return None
    automaton = ahocorasick.Automaton()
    for word, value in words.items():
        automaton.add_word(word, value)
    automaton.make_automaton()
    return automaton


def _value(value):
    """pandas' missing values (NaN, NA) as None, numpy scalars as Python ones, for the templates."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


HISTORY_ROW_COLUMNS = ["time", "submission", "content_hash", "public_accuracy", "rank"]


def history_rows(loaded, order: list[str]) -> pd.DataFrame:
    """A track's history (`history.load`) as the site reads it: one row per submission and grade run
    it took part in (HISTORY_ROW_COLUMNS). `load` returns either that frame itself (a snapshot per
    run) or a `History` of points (each submission's state where it began and at its last run,
    `runs` the grade runs it stands for) and runs; the points are spread back over the runs here,
    so that this is the one place that knows how the history is stored. A run's ranks missing from
    the points (a rank that changed without the submission changing) are worked out again from the
    run's accuracies, ties in the order of today's leaderboard (`order`: its submissions)."""
    if isinstance(loaded, pd.DataFrame):
        return loaded[HISTORY_ROW_COLUMNS]
    times = [str(time) for time in loaded.runs["time"]]
    run_of = {time: index for index, time in enumerate(times)}
    points = loaded.points.sort_values(["submission", "time"], kind="stable")
    rows = []
    columns = (points[name].tolist() for name in ("submission", "time", "content_hash", "public_accuracy"))
    previous = None
    for submission, time, content_hash, accuracy in zip(*columns):
        if previous is not None and previous[0] == submission:
            # The state of the previous point holds from its run up to this one's.
            for run in range(run_of[previous[1]] + 1, run_of[str(time)]):
                rows.append((times[run], submission, previous[2], previous[3]))
        rows.append((str(time), submission, content_hash, accuracy))
        previous = (submission, str(time), content_hash, accuracy)
    frame = pd.DataFrame(rows, columns=HISTORY_ROW_COLUMNS[:-1]).drop_duplicates(["time", "submission"], keep="last")
    position = {submission: index for index, submission in enumerate(order)}
    frame["_order"] = frame["submission"].map(position).fillna(len(order))
    frame = frame.sort_values(["time", "public_accuracy", "_order", "submission"],
                              ascending=[True, False, True, True], kind="stable", na_position="last")
    scored = frame["public_accuracy"].notna()
    frame["rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame.loc[scored, "rank"] = frame[scored].groupby("time").cumcount().to_numpy() + 1
    return frame.drop(columns="_order").reset_index(drop=True)


def history_runs(frame: pd.DataFrame, names: dict[str, str]) -> list[dict]:
    """Per grade run (newest first): when, the leader and its accuracy, how many were ranked."""
    runs = []
    for time, rows in frame.groupby("time", sort=True):
        leader = rows[rows["rank"] == 1]
        runs.append({
            "time": str(time).replace("T", " ").replace("+00:00", " UTC"),
            "leader": names.get(leader["submission"].iloc[0], "") if len(leader) else "",
            "leader_accuracy": _value(leader["public_accuracy"].iloc[0]) if len(leader) else None,
            "ranked": int(rows["rank"].notna().sum()),
        })
    return runs[::-1]


def _entries(shown: pd.DataFrame, names: dict[str, str], redact: Redactor, reveal_private: bool,
             records: dict[str, dict], frame: pd.DataFrame, versions: dict[str, list[dict]]) -> list[Entry]:
    """The rows as the site shows them, with what the history adds: versions seen, when the last
    was handed in, and the rank change since the previous grade run."""
    times = sorted(frame["time"].dropna().unique())
    previous = {}
    if len(times) >= 2:
        before = frame[frame["time"] == times[-2]]
        previous = {submission: _value(rank) for submission, rank in zip(before["submission"], before["rank"])}
    entries = []
    for row in shown.to_dict("records"):
        submission = row["submission"]
        rank = _value(row["rank"])
        seen = versions.get(submission, [])
        earlier = previous.get(submission)
        entries.append(Entry(
            submission=submission, name=names[submission], baseline=bool(row["baseline"]),
            status=row["status"], error=redact(_value(row["error"])), rank=rank,
            public_accuracy=_value(row["public_accuracy"]), public_accuracy_std=_value(row["public_accuracy_std"]),
            private_accuracy=_value(row.get("private_accuracy")) if reveal_private else None,
            trainable_params=_value(row["trainable_params"]), total_params=_value(row["total_params"]), train_seconds=_value(row["train_seconds"]),
            pareto=bool(row["pareto"]), validation_accuracy=_value(row.get("validation_accuracy")),
            mflops_per_image=_value(row.get("mflops_per_image")),
            images_per_second=_value(row.get("images_per_second")),
            pareto_compute=bool(row.get("pareto_compute", False)),
            last_submission=_when(_value(row.get("submitted_at")) or (seen[0]["first_seen"] if seen else "")),
            versions=len(seen),
            rank_change=(int(earlier) - int(rank)) if rank is not None and earlier is not None else None,
            new=bool(previous) and rank is not None and earlier is None,
            cpu_quota_cores=_value(records.get(submission, {}).get("cpu_quota_cores")),
        ))
    return entries


def _when(stamp: str) -> str:
    """An ISO time as the pages show it: '2026-01-01 09:00 UTC'."""
    if not stamp:
        return ""
    try:
        return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, TypeError):
        try:
            return pd.Timestamp(stamp).strftime("%Y-%m-%d %H:%M")
        except (ValueError, TypeError):
            return str(stamp)


def window(entries: list[Entry], own: int, whole_up_to: int = 30, top: int = 3, around: int = 3) -> list:
    """The rows a feedback page shows of its track's leaderboard (`own`: the index of the student's
    row): all of a small class; else the top `top` and the `around` rows either side of the
    student's own, with the number of rows skipped (an int) in each gap. A page per student with
    every row would make the site grow with the square of the class."""
    if len(entries) <= whole_up_to:
        return list(entries)
    keep = sorted(set(range(min(top, len(entries)))) | set(range(max(0, own - around), min(len(entries), own + around + 1))))
    shown, previous = [], -1
    for index in keep:
        if index > previous + 1:
            shown.append(index - previous - 1)
        shown.append(entries[index])
        previous = index
    if previous < len(entries) - 1:
        shown.append(len(entries) - 1 - previous)
    return shown


def versions_by_submission(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """Each submission's versions in the history (by folder hash), newest first, in one pass over
    the rows: a pandas groupby per student cost 1.5 s of every report at 1,000 students."""
    found: dict[str, dict[str, dict]] = {}
    columns = (frame[name].tolist() for name in ("submission", "content_hash", "time", "public_accuracy", "rank"))
    for submission, content_hash, time, accuracy, rank in zip(*columns):
        rank = _value(rank)
        version = found.setdefault(submission, {}).setdefault(str(content_hash), {
            "content_hash": str(content_hash), "hash": str(content_hash)[:12], "first_seen": str(time), "runs": 0,
            "best_rank": None})
        version["first_seen"] = min(version["first_seen"], str(time))
        version["runs"] += 1
        version["public_accuracy"] = _value(accuracy)  # the latest row's
        if rank is not None and (version["best_rank"] is None or rank < version["best_rank"]):
            version["best_rank"] = int(rank)
    return {submission: sorted(versions.values(), key=lambda version: version["first_seen"], reverse=True)
            for submission, versions in found.items()}


def _earlier_versions(versions: list[dict], current_hash: Optional[str]) -> list[dict]:
    """One submission's versions (versions_by_submission) as its page shows them."""
    return [{**version, "current": version["content_hash"] == str(current_hash),
             "first_seen": _when(version["first_seen"])}
            for version in versions]


def feedback_images(feedback_dir: Path, submission: str, track_name: str, site_dir: Path, page: str,
                    files: SiteFiles) -> list[dict]:
    """The feedback PNGs the grade stage drew for one submission (feedback.py: validation split
    only, titled by track), to be linked into its page folder as <track>_<name>; returns, per image,
    its src, alt text, the size it was drawn to be shown at, and its data as a table (header, rows;
    None for images drawn before the data was kept beside them). An image without feedback.py's
    id-free mark (drawn by an older version, titled with the submission's id) is left out rather
    than published. One that an earlier build linked already passed that check: the grade stage
    draws new files rather than writing into old ones."""
    images = []
    for name, alt in FEEDBACK_IMAGES.items():
        source = feedback_dir / submission / name
        relative = f"{page}/{track_name}_{name}"
        if already_linked(site_dir / relative, source) or (source.is_file() and feedback.is_id_free(source)):
            files.link(relative, source)
            facts = feedback.image_facts(source)
            images.append({"src": f"{track_name}_{name}", "alt": alt, "width": facts.width if facts else None,
                           "height": facts.height if facts else None,
                           "table": _table_html(facts.table, row_headers=name == feedback.CONFUSION_PNG)
                           if facts and facts.table else "",
                           "kind": name.removesuffix(".png")})
    return images


def _table_html(rows: list[list], row_headers: bool) -> str:
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


def _log_tail(path: Path, redact: Redactor) -> str:
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return redact("\n".join(lines[-LOG_TAIL_LINES:]))


def _format_accuracy(value, decimals: int = 4) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _rank_change(entry: Entry) -> dict:
    """How a row's rank moved since the previous grade run: a symbol and the words for it."""
    if entry.new:
        return {"symbol": "new", "words": "new since the previous grade run", "kind": "new"}
    if entry.rank_change is None:
        return {"symbol": "", "words": "", "kind": "none"}
    if entry.rank_change > 0:
        return {"symbol": f"▲{entry.rank_change}", "words": f"up {entry.rank_change} since the previous grade run",
                "kind": "up"}
    if entry.rank_change < 0:
        return {"symbol": f"▼{-entry.rank_change}",
                "words": f"down {-entry.rank_change} since the previous grade run", "kind": "down"}
    return {"symbol": "=", "words": "same rank as at the previous grade run", "kind": "same"}


def _template_environment():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["accuracy"] = _format_accuracy
    environment.filters["thousands"] = lambda value: "" if value is None else f"{int(value):,}"
    environment.filters["seconds"] = lambda value: "" if value is None else f"{value:.1f}"
    environment.filters["mflops"] = lambda value: "" if value is None else leaderboard.format_mflops(value)
    environment.filters["per_second"] = _per_second
    environment.filters["rank_change"] = _rank_change
    environment.tests["gap"] = lambda value: isinstance(value, int)
    return environment


def _per_second(value: Optional[float]) -> str:
    """Images per second: whole thousands-separated numbers, three figures below 100."""
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _grade(entry: Entry, bands, failed_marks: float, reveal_private: bool) -> Optional[dict]:
    """The grade band and marks this entry reaches (None: no bands for its track, or a baseline)."""
    if bands is None or entry.baseline:
        return None
    accuracy = entry.private_accuracy if reveal_private else entry.public_accuracy
    if entry.status != status.OK:
        return {"marks": f"{failed_marks:g}", "band": f"none (status {entry.status})", "provisional": not reveal_private,
                "bands": []}
    marks, band = rubric.marks_for(accuracy, bands, failed_marks)
    reached = f"accuracy ≥ {band.min_accuracy:g}" if band else "below every band"
    return {"marks": f"{marks:g}", "band": reached, "provisional": not reveal_private,
            "bands": [{"min": f"{b.min_accuracy:g}", "marks": f"{b.marks:g}", "reached": b is band} for b in bands]}


def check_no_leaks(site_dir: Path, texts: dict[str, str], forbidden_ids: set[str], key: Optional[bytes],
                   reveal_private: bool) -> None:
    """Raise SiteError (and delete site/) if any text to be published (`texts`, by path relative to
    site/) holds the site key, a real id (as a whole word: not inside a longer name) or, before the
    reveal, a hidden-score key: the last line of defence, run before anything is written. One pass
    per text finds every one of them."""
    # word -> (what it is, must it stand alone)
    words: dict[str, tuple[str, bool]] = {real: (f"real id {real!r}", True) for real in forbidden_ids if real}
    if key:
        words[key.decode("utf-8")] = ("the site key", False)
    if not reveal_private:
        words.update({name: (f"hidden score {name!r}", False) for name in HIDDEN_SCORE_KEYS})
    automaton = _automaton({word: (word, *found) for word, found in words.items()})
    if automaton is None:
        return
    for relative, text in sorted(texts.items()):
        path = site_dir / relative
        if path.suffix not in (".html", ".svg", ".css", ".txt", ".json", ".csv"):
            continue
        for end, (word, what, alone) in automaton.iter(text):
            start = end - len(word) + 1
            if alone and (_is_id_char(text, start - 1) or _is_id_char(text, end + 1)):
                continue  # part of a longer name, e.g. "ann" in "annotate"
            shutil.rmtree(site_dir, ignore_errors=True)
            raise SiteError(f"{path} would publish {what}; nothing was published (site/ removed)")


_ID_CHAR = re.compile(r"[\w-]")


def _is_id_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and _ID_CHAR.match(text[index]) is not None


def _pareto_points(entries: list[Entry], reveal_private: bool, compute: bool = False) -> tuple[list, list[int]]:
    """A Pareto chart's points (ranked entries with a size: parameters, or with `compute` MFLOPs
    per image) and which of them may carry their name."""
    metric = "private_accuracy" if reveal_private else "public_accuracy"
    points = []
    for entry in entries:
        size = entry.mflops_per_image if compute else entry.total_params
        if entry.status == status.OK and getattr(entry, metric) is not None and size:
            points.append(site_charts.ParetoPoint(entry.name, size, getattr(entry, metric),
                                                  entry.pareto_compute if compute else entry.pareto, entry.baseline))
    to_label = leaderboard.points_to_label([point.accuracy for point in points], [point.size for point in points],
                                           [point.front for point in points], [point.baseline for point in points])
    return points, to_label


def _runs_by_submission(frame: pd.DataFrame) -> dict[str, list[tuple[int, float]]]:
    """Per submission: (run index, public accuracy) at each grade run it was scored in, in run order."""
    scored = frame[frame["public_accuracy"].notna()]
    run_of = {time: index for index, time in enumerate(sorted(scored["time"].unique()))}
    found: dict[str, list[tuple[int, float]]] = {}
    for submission, time, accuracy in zip(scored["submission"], scored["time"], scored["public_accuracy"]):
        found.setdefault(submission, []).append((run_of[time], float(accuracy)))
    return {submission: sorted(runs) for submission, runs in found.items()}


def _chart_file(track_name: str, chart) -> str:
    return f"{CHARTS_DIR}/history-{track_name}-{chart.variant.name}.svg"


def build_site(results_root: Path, submissions_dir: Path, site_dir: Path, track_names: list[str],
               reveal_private: bool, show_ids: bool, key: Optional[bytes],
               now: Optional[datetime.datetime] = None, ranked_tables: Optional[dict] = None,
               context: Optional[dict[str, TrackContext]] = None, grades=None,
               feedback_root: Optional[Path] = None, tie_break: str = "parameters") -> list[str]:
    """Render site/ from the results of `track_names` (with the feedback images the grade stage
    drew), the history and the submissions' meta.yaml; return the lines to print.
    `ranked_tables`: each track's ranked table when the caller has it already (leaderboard's).
    `context`: each track's public-part size (track_context); `grades`: params' GradeSettings.
    `feedback_root`: where the grade stage put the feedback, <root>/<track>/<id>/ (default:
    results_root/<track>/feedback/<id>/, as grading.cache.ResultCache).
    `tie_break`: params' leaderboard.tie_break, so that ties rank as on the leaderboard."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    context = context or {}
    shown_tables, result_records, histories = {}, {}, {}
    for track_name in track_names:
        results_dir = results_root / track_name
        ranked = (ranked_tables or {}).get(track_name)
        if ranked is None:
            ranked = leaderboard.rank(leaderboard.load_track_results(results_dir, track_name), reveal_private,
                                      tie_break)
        shown_tables[track_name] = leaderboard.export(ranked, reveal_private)
        result_records[track_name] = {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}
        histories[track_name] = history_rows(history.load(results_root, track_name), ranked["submission"].tolist())

    # Who is who: baselines (public reference code) keep their ids; students get display names.
    everything = pd.concat(shown_tables.values(), ignore_index=True)
    submission_ids = sorted(set(everything["submission"]))
    baselines = set(everything.loc[everything["baseline"].astype(bool), "submission"])
    chosen = {}
    for submission_id in submission_ids:
        try:
            chosen[submission_id] = load_meta(submissions_dir / submission_id).display_name
        except MetaError:
            chosen[submission_id] = None  # the grade stage already reports it as the submission's error
    names = pseudonyms.display_names(submission_ids, chosen, key,
                                     set(submission_ids) if show_ids else baselines)
    student_ids = dict(zip(everything["submission"], everything["student_id"].fillna(everything["submission"])))
    forbidden: set[str] = set()
    if not show_ids:
        for submission_id in set(submission_ids) - baselines:
            forbidden |= {submission_id, str(student_ids.get(submission_id) or submission_id)}
        forbidden -= {names[submission_id] for submission_id in submission_ids}  # a name chosen equal to the id
    redact = Redactor({real: names[submission_id] for submission_id in submission_ids
                       for real in (submission_id, str(student_ids.get(submission_id) or ""))
                       if real and real in forbidden})

    tracks = []
    versions = {name: versions_by_submission(frame) for name, frame in histories.items()}
    metric_label = "private accuracy" if reveal_private else "public accuracy"
    for track_name, shown in shown_tables.items():
        entries = _entries(shown, names, redact, reveal_private, result_records[track_name], histories[track_name],
                           versions[track_name])
        points, to_label = _pareto_points(entries, reveal_private)
        compute_points, compute_to_label = _pareto_points(entries, reveal_private, compute=True)
        uncounted = sum(entry.rank is not None and entry.mflops_per_image is None for entry in entries)
        frame = histories[track_name]
        # The base of every feedback page's chart: the leader and the class median.
        bases = [site_charts.history_chart(track_name, frame, names, variant, everyone=False)
                 for variant in site_charts.VARIANTS]
        # On a phone, a large class's lines are one grey blob: the narrow chart is then the base's.
        history_charts = [site_charts.history_chart(track_name, frame, names, variant)
                          if variant is site_charts.WIDE or len(entries) <= EVERY_LINE_ON_A_PHONE_UP_TO else base
                          for variant, base in zip(site_charts.VARIANTS, bases)]
        numbers = context.get(track_name, TrackContext())
        images = numbers.private_images if reveal_private else numbers.public_images
        tracks.append(TrackView(
            name=track_name, entries=entries,
            pareto_svgs=[site_charts.pareto_chart(track_name, points, to_label, metric_label, variant)
                         for variant in site_charts.VARIANTS],
            compute_svgs=[site_charts.pareto_chart(track_name, compute_points, compute_to_label, metric_label, variant,
                                                   site_charts.COMPUTE,
                                                   empty="no FLOPs counted yet" if uncounted else None)
                          for variant in site_charts.VARIANTS],
            uncounted=uncounted,
            history_svgs=[chart.svg for chart in history_charts if chart is not None],
            runs=history_runs(frame, names),
            ranked_count=sum(entry.rank is not None for entry in entries), context=numbers,
            decimals=decimals_for(images),
            time_label=train_time_label([entry.cpu_quota_cores for entry in entries if entry.status == status.OK]),
            feedback_charts=bases))

    files = SiteFiles()  # written at the end, where they differ; the rest of site/ is removed
    environment = _template_environment()
    entry_row = environment.get_template("_leaderboard.html").module.entry_row
    row_html = {}
    for track in tracks:
        row_html[track.name] = {entry.submission: entry_row(track, entry, reveal_private, False) for entry in track.entries}
        track.rows = list(row_html[track.name].values())
    common = {"reveal_private": reveal_private, "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "tie_break": tie_break}
    files.write("index.html", environment.get_template("index.html").render(tracks=tracks, **common))

    lines = [f"site: {site_dir}/index.html: {len(tracks)} track(s), "
             f"{sum(len(track.entries) for track in tracks)} leaderboard row(s)"]
    links = []
    if key is None:
        lines.append(f"WARNING: no site key, so no feedback pages were written (their unguessable paths need a "
                     f"secret key). `python -m pipeline report` creates one in {KEY_FILE}, or set {SITE_KEY_ENV}.")
    else:
        page_template = environment.get_template("feedback.html")
        # An index page of its own, so that a server with directory listings on does not list the pages.
        files.write(f"{FEEDBACK_DIR}/index.html", environment.get_template("no_listing.html").render(**common))
        # Looked up per page: indexed once, not searched (a class of 1,000 would make it a million steps).
        entries = {track.name: {entry.submission: entry for entry in track.entries} for track in tracks}
        positions = {track.name: {entry.submission: index for index, entry in enumerate(track.entries)}
                     for track in tracks}
        runs_by_submission = {track.name: _runs_by_submission(histories[track.name]) for track in tracks}
        for track in tracks:  # the base of each page's chart, one file per track and width
            for chart in track.feedback_charts:
                if chart is not None:
                    files.write(_chart_file(track.name, chart), chart.svg)
        for submission_id in submission_ids:
            token = feedback_token(submission_id, key)
            page = f"{FEEDBACK_DIR}/{token}"
            sections = []
            for track in tracks:
                entry = entries[track.name].get(submission_id)
                if entry is None:
                    continue
                record = result_records[track.name].get(submission_id, {})
                feedback_dir = feedback_root / track.name if feedback_root else results_root / track.name / "feedback"
                images = feedback_images(feedback_dir, submission_id, track.name, site_dir, page, files)
                folder = submission_id if (show_ids or submission_id in baselines) else FOLDER_PLACEHOLDER
                own_runs = runs_by_submission[track.name]
                bands = (grades.bands.get(track.name) if grades is not None else None)
                sections.append({
                    "track": track, "entry": entry, "ranked_count": track.ranked_count, "images": images,
                    "rows": [row if isinstance(row, int) else entry_row(track, row, reveal_private, True)
                             if row.submission == submission_id else row_html[track.name][row.submission]
                             for row in window(track.entries, positions[track.name].get(submission_id, 0))],
                    "history_svgs": [site_charts.own_line(
                        chart, f"../../{_chart_file(track.name, chart)}", own_runs.get(submission_id, []), entry.name,
                        f"{track.name}: your public accuracy at each grade run in blue, the leader's in red, the "
                        f"class median dashed in grey") for chart in track.feedback_charts if chart is not None],
                    "grade": _grade(entry, bands, grades.failed_marks if grades is not None else 0, reveal_private),
                    "time_label": train_time_label([entry.cpu_quota_cores]),
                    "model_summary": redact(record.get("model_summary")),
                    "log_tail": _log_tail(results_root / track.name / f"{submission_id}.log", redact),
                    "versions": _earlier_versions(versions[track.name].get(submission_id, []),
                                                  record.get("content_hash")),
                    "check_command": f"python -m pipeline check submissions/{folder} --track {track.name}",
                    "folder_hidden": folder == FOLDER_PLACEHOLDER,
                })
            files.write(f"{page}/index.html", page_template.render(name=names[submission_id], sections=sections, **common))
            links.append({"submission": submission_id, "student_id": student_ids.get(submission_id),
                          "page": f"{page}/index.html"})
        lines.append(f"site: {len(links)} feedback page(s) under {site_dir}/{FEEDBACK_DIR}/; their links (to mail "
                     f"each student theirs) in {results_root / LINKS_FILE}")
    check_no_leaks(site_dir, files.texts, forbidden, key, reveal_private)
    sync(site_dir, files)
    with open(results_root / LINKS_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["submission", "student_id", "page"])
        writer.writeheader()
        writer.writerows(links)
    return lines
