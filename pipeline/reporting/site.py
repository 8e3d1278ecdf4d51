"""Results -> site/: the static course site (public leaderboard and its history, a private feedback page per submission).

    site/index.html                       every track: leaderboard table, accuracy-vs-parameters
                                          scatter with the Pareto front, the leaderboard over time
    site/feedback/<keyed hash>/index.html one page per submission (all its tracks) with its plots
    results/site_links.csv                submission, student_id, page: the links the instructor
                                          mails to students (never inside site/)

Every file works opened from disk (file://) or from any static host: no script, no external
request, charts are inline SVG (matplotlib) and images are PNGs beside their page. The feedback
images are drawn again here (feedback.py's own functions, from the feedback CSVs and the public
validation images) because the grade stage's copies carry the submission id in their titles.

What may be shown is decided in one place: the rows come from `leaderboard.export`, which drops
the private and full-test scores while `leaderboard.reveal_private` is off; real ids (folder names
and student ids) are replaced by display names unless `site.show_ids`; and before returning,
`check_no_leaks` reads every written file for the site key, real ids and hidden-score keys.
The feedback page's path is an HMAC-SHA256 of the id keyed with GRADEBENCH_SITE_KEY, so no one can
enumerate the others' pages; without a key the feedback pages are skipped, with a warning.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import status
from pipeline.grading.submission_facts import MetaError, load_meta
from pipeline.reporting import feedback, history, leaderboard, pseudonyms
from pipeline.reporting.site_files import SiteFiles, already_linked, sync

SITE_KEY_ENV = "GRADEBENCH_SITE_KEY"
FEEDBACK_DIR = "feedback"
LINKS_FILE = "site_links.csv"
TEMPLATES_DIR = Path(__file__).with_name("site_templates")
# The feedback images a page shows (validation split only: see feedback.py).
FEEDBACK_IMAGES = {
    feedback.CURVES_PNG: "Learning curves: loss and accuracy per epoch, on the training and validation data",
    feedback.CONFUSION_PNG: "Confusion matrix on the validation data: true class by predicted class",
    feedback.MISCLASSIFIED_PNG: "Validation images the model gets wrong, with their true and predicted class",
}
LOG_TAIL_LINES = 60
# Key names that must not appear anywhere in site/ while the private part is hidden.
HIDDEN_SCORE_KEYS = ("private_accuracy", "test_accuracy")
# Placeholder for the student's folder in the check command (the real folder name is an id).
FOLDER_PLACEHOLDER = "YOUR_FOLDER"
MIN_KEY_BYTES = 16


class SiteError(ValueError):
    """The site cannot be built safely (a short key, or something private would be published)."""


def key_from_env(environ=os.environ) -> Optional[bytes]:
    """The site key from GRADEBENCH_SITE_KEY, or None when unset; a key too short to be secret is an error."""
    value = environ.get(SITE_KEY_ENV, "")
    if not value:
        return None
    if len(value.encode("utf-8")) < MIN_KEY_BYTES:
        raise SiteError(f"{SITE_KEY_ENV} is {len(value)} characters long: use at least {MIN_KEY_BYTES} random "
                        f"characters, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return value.encode("utf-8")


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
    train_seconds: Optional[float]
    pareto: bool


@dataclass
class TrackView:
    name: str
    entries: list[Entry]
    pareto_svg: str
    history_svg: str
    runs: list[dict]  # per grade run: time, leader, leader_accuracy, entries (the chart's text alternative)
    ranked_count: int = 0


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


def _svg(figure, salt: str, label: str) -> str:
    """A matplotlib figure as inline SVG: deterministic ids (so unchanged inputs give the same
    bytes), text kept as text, and labelled for screen readers."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    escaped = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return text.replace("<svg", f'<svg class="chart" role="img" aria-label="{escaped}"', 1)


def pareto_svg(track_name: str, entries: list[Entry], reveal_private: bool) -> str:
    """Ranking accuracy against trainable parameters (log scale), the Pareto front joined up."""
    from matplotlib.figure import Figure

    metric = "private_accuracy" if reveal_private else "public_accuracy"
    ok = [entry for entry in entries if entry.status == status.OK and getattr(entry, metric) is not None
          and entry.trainable_params]
    figure = Figure(figsize=(7.5, 4.2))
    axis = figure.subplots()
    if ok:
        groups = [("student", False, False, "o", "#4b5563"), ("baseline", True, False, "s", "#4b5563"),
                  ("student, Pareto front", False, True, "o", "#b91c1c"),
                  ("baseline, Pareto front", True, True, "s", "#b91c1c")]
        for label, baseline, pareto, marker, colour in groups:
            chosen = [entry for entry in ok if entry.baseline == baseline and entry.pareto == pareto]
            if chosen:
                points = axis.scatter([entry.trainable_params for entry in chosen],
                                      [getattr(entry, metric) for entry in chosen], marker=marker, s=36,
                                      facecolors=colour if not baseline else "white", edgecolors=colour,
                                      label=label, zorder=3)
                points.set_gid(f"points-{label.replace(', ', '-').replace(' ', '-')}")
        front = sorted((entry for entry in ok if entry.pareto), key=lambda entry: entry.trainable_params)
        axis.step([entry.trainable_params for entry in front], [getattr(entry, metric) for entry in front],
                  where="post", color="#b91c1c", alpha=0.5)
        labelled = leaderboard.points_to_label([getattr(entry, metric) for entry in ok],
                                               [entry.trainable_params for entry in ok],
                                               [bool(entry.pareto) for entry in ok], [bool(entry.baseline) for entry in ok])
        for entry in (ok[i] for i in labelled):
            axis.annotate(entry.name, (entry.trainable_params, getattr(entry, metric)), fontsize=7,
                          xytext=(4, 3), textcoords="offset points", color="#111827")
        axis.set_xscale("log")
        axis.legend(loc="lower right", fontsize=8)
    else:
        axis.text(0.5, 0.5, "no graded submissions yet", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel("trainable parameters (log scale)")
    axis.set_ylabel(metric.replace("_", " "))
    axis.set_title(f"{track_name}: accuracy vs size (★ no one is both more accurate and smaller)", fontsize=10)
    axis.grid(alpha=0.3)
    # Fixed margins, not tight_layout: that measures every label by drawing the figure an extra time
    # (a second of every report at 1,000 students, with the Pareto front's names).
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.92)
    return _svg(figure, f"pareto-{track_name}", f"{track_name}: {metric.replace('_', ' ')} against trainable "
                f"parameters; the Pareto front is drawn in red")


def history_svg(track_name: str, past: history.History, names: dict[str, str]) -> str:
    """Every submission's public accuracy over time (grey) and the leader's (red): a point per grade run.
    Groups carry ids `history-submissions` and `leader` for tests and styling."""
    import matplotlib.dates as mdates
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 3.6))
    axis = figure.subplots()
    frame = past.points
    scored = frame[frame["public_accuracy"].notna()].copy()
    if len(scored):
        scored["when"] = mdates.date2num(pd.to_datetime(scored["time"], utc=True).dt.tz_localize(None))
        # One grey line per submission, drawn as one artist broken by NaN between submissions: an
        # artist each cost a second of every report at 1,000 students.
        # In display-name order: the order of points must not reveal how the real ids sort.
        scored["name"] = scored["submission"].map(names).fillna("")
        scored = scored.sort_values(["name", "submission", "when"], kind="stable")
        marked = scored[changes_and_ends(scored["submission"].to_numpy(), scored["public_accuracy"].to_numpy(float))]
        submissions = marked["submission"].to_numpy()
        breaks = np.flatnonzero(submissions[1:] != submissions[:-1]) + 1
        line, = axis.plot(np.insert(marked["when"].to_numpy(float), breaks, np.nan),
                          np.insert(marked["public_accuracy"].to_numpy(float), breaks, np.nan),
                          marker="o", markersize=3, linewidth=1, color="#9ca3af", drawstyle="steps-post")
        line.set_gid("history-submissions")
        leader = past.runs[past.runs["leader_accuracy"].notna()]
        leader_when = mdates.date2num(pd.to_datetime(leader["time"], utc=True).dt.tz_localize(None))
        line, = axis.plot(leader_when, leader["leader_accuracy"], marker="o", markersize=5, linewidth=2.2,
                          color="#b91c1c", drawstyle="steps-post", label="leader (rank 1)")
        line.set_gid("leader")
        axis.xaxis_date()
        locator = mdates.AutoDateLocator()
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axis.legend(loc="lower right", fontsize=8)
    else:
        axis.text(0.5, 0.5, "no grade runs recorded yet", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel("grade run (UTC)")
    axis.set_ylabel("public accuracy")
    axis.set_title(f"{track_name}: the leaderboard over time", fontsize=10)
    axis.grid(alpha=0.3)
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.91)  # as pareto_svg's
    return _svg(figure, f"history-{track_name}", f"{track_name}: public accuracy of every submission at each "
                f"grade run, the leader's in red")


def changes_and_ends(submissions, accuracy):
    """Which rows of a history sorted by submission and time the chart marks: each submission's
    first and last grade run and every run that changed its accuracy. Every grade run records every
    submission, so marking them all grows by N points per run (10,000 at 1,000 students after ten
    runs: a 1.5 MB page and a second of every report); the steps between are the same line."""
    import numpy as np

    if len(submissions) == 0:
        return np.zeros(0, dtype=bool)
    first = np.r_[True, submissions[1:] != submissions[:-1]]
    last = np.r_[submissions[1:] != submissions[:-1], True]
    changed = np.r_[True, accuracy[1:] != accuracy[:-1]]
    return first | last | changed


def history_runs(past: history.History, names: dict[str, str]) -> list[dict]:
    """Per grade run (newest first): when, the leader and its accuracy, how many were ranked."""
    runs = []
    for time, leader, accuracy, ranked in zip(*(past.runs[name].tolist() for name in history.RUN_COLUMNS)):
        runs.append({
            "time": str(time).replace("T", " ").replace("+00:00", " UTC"),
            "leader": names.get(leader, "") if leader else "",
            "leader_accuracy": _value(accuracy),
            "ranked": int(ranked),
        })
    return runs[::-1]


def _entries(shown: pd.DataFrame, names: dict[str, str], redact: Redactor, reveal_private: bool) -> list[Entry]:
    entries = []
    for row in shown.to_dict("records"):
        entries.append(Entry(
            submission=row["submission"], name=names[row["submission"]], baseline=bool(row["baseline"]),
            status=row["status"], error=redact(_value(row["error"])), rank=_value(row["rank"]),
            public_accuracy=_value(row["public_accuracy"]), public_accuracy_std=_value(row["public_accuracy_std"]),
            private_accuracy=_value(row.get("private_accuracy")) if reveal_private else None,
            trainable_params=_value(row["trainable_params"]), train_seconds=_value(row["train_seconds"]),
            pareto=bool(row["pareto"]),
        ))
    return entries


def versions_by_submission(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """Each submission's versions in the history (by folder hash), newest first, in one pass over
    the points (history.History.points, each standing for `runs` grade runs): a pandas groupby per
    student cost 1.5 s of every report at 1,000 students."""
    found: dict[str, dict[str, dict]] = {}
    columns = (frame[name].tolist() for name in ("submission", "content_hash", "time", "public_accuracy", "best_rank",
                                                 "runs"))
    for submission, content_hash, time, accuracy, rank, runs in zip(*columns):
        rank = _value(rank)
        version = found.setdefault(submission, {}).setdefault(str(content_hash), {
            "content_hash": str(content_hash), "hash": str(content_hash)[:12], "first_seen": str(time), "runs": 0,
            "best_rank": None})
        version["first_seen"] = min(version["first_seen"], str(time))
        version["runs"] += runs
        version["public_accuracy"] = _value(accuracy)  # the latest row's
        if rank is not None and (version["best_rank"] is None or rank < version["best_rank"]):
            version["best_rank"] = int(rank)
    return {submission: sorted(versions.values(), key=lambda version: version["first_seen"], reverse=True)
            for submission, versions in found.items()}


def _earlier_versions(versions: list[dict], current_hash: Optional[str]) -> list[dict]:
    """One submission's versions (versions_by_submission) as its page shows them."""
    return [{**version, "current": version["content_hash"] == str(current_hash),
             "first_seen": version["first_seen"].replace("T", " ").replace("+00:00", " UTC")}
            for version in versions]


def feedback_images(feedback_dir: Path, submission: str, track_name: str, site_dir: Path, page: str,
                    files: SiteFiles) -> list[dict]:
    """The feedback PNGs the grade stage drew for one submission (feedback.py: validation split
    only, titled by track), to be linked into its page folder as <track>_<name>; returns their src
    and alt text. An image without feedback.py's id-free mark (drawn by an older version, titled
    with the submission's id) is left out rather than published. One that an earlier build linked
    already passed that check: the grade stage draws new files rather than writing into old ones."""
    images = []
    for name, alt in FEEDBACK_IMAGES.items():
        source = feedback_dir / submission / name
        relative = f"{page}/{track_name}_{name}"
        if already_linked(site_dir / relative, source) or (source.is_file() and feedback.is_id_free(source)):
            files.link(relative, source)
            images.append({"src": f"{track_name}_{name}", "alt": alt})
    return images


def _log_tail(path: Path, redact: Redactor) -> str:
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return redact("\n".join(lines[-LOG_TAIL_LINES:]))


def _template_environment():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["accuracy"] = lambda value: "" if value is None else f"{value:.4f}"
    environment.filters["thousands"] = lambda value: "" if value is None else f"{int(value):,}"
    environment.filters["seconds"] = lambda value: "" if value is None else f"{value:.1f}"
    return environment


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


def build_site(results_root: Path, submissions_dir: Path, site_dir: Path, track_names: list[str],
               reveal_private: bool, show_ids: bool, key: Optional[bytes],
               now: Optional[datetime.datetime] = None, ranked_tables: Optional[dict] = None,
               feedback_root: Optional[Path] = None) -> list[str]:
    """Render site/ from the results of `track_names` (with the feedback images the grade stage
    drew), the history and the submissions' meta.yaml; return the lines to print.
    `ranked_tables`: each track's ranked table when the caller has it already (leaderboard's).
    `feedback_root`: where the grade stage put the feedback, <root>/<track>/<id>/ (default:
    results_root/<track>/feedback/<id>/, as grading.cache.ResultCache)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    shown_tables, result_records, histories = {}, {}, {}
    for track_name in track_names:
        results_dir = results_root / track_name
        ranked = (ranked_tables or {}).get(track_name)
        if ranked is None:
            ranked = leaderboard.rank(leaderboard.load_track_results(results_dir, track_name), reveal_private)
        shown_tables[track_name] = leaderboard.export(ranked, reveal_private)
        result_records[track_name] = {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}
        histories[track_name] = history.load(results_root, track_name)

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
    for track_name, shown in shown_tables.items():
        entries = _entries(shown, names, redact, reveal_private)
        tracks.append(TrackView(
            name=track_name, entries=entries, pareto_svg=pareto_svg(track_name, entries, reveal_private),
            history_svg=history_svg(track_name, histories[track_name], names),
            runs=history_runs(histories[track_name], names),
            ranked_count=sum(entry.rank is not None for entry in entries)))

    files = SiteFiles()  # written at the end, where they differ; the rest of site/ is removed
    environment = _template_environment()
    common = {"reveal_private": reveal_private, "generated": now.strftime("%Y-%m-%d %H:%M UTC")}
    files.write("index.html", environment.get_template("index.html").render(tracks=tracks, **common))

    lines = [f"site: {site_dir}/index.html: {len(tracks)} track(s), "
             f"{sum(len(track.entries) for track in tracks)} leaderboard row(s)"]
    links = []
    if key is None:
        lines.append(f"WARNING: {SITE_KEY_ENV} is not set, so no feedback pages were written (their unguessable "
                     f"paths need a secret key). Set it, e.g. `export {SITE_KEY_ENV}=$(python -c 'import secrets; "
                     f"print(secrets.token_urlsafe(32))')`, keep it out of the repository, and run "
                     f"`dvc repro --force report`.")
    else:
        page_template = environment.get_template("feedback.html")
        # An index page of its own, so that a server with directory listings on does not list the pages.
        files.write(f"{FEEDBACK_DIR}/index.html", environment.get_template("no_listing.html").render(**common))
        # Looked up per page: indexed once, not searched (a class of 1,000 would make it a million steps).
        entries = {track.name: {entry.submission: entry for entry in track.entries} for track in tracks}
        versions = {name: versions_by_submission(past.points) for name, past in histories.items()}
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
                sections.append({
                    "track": track.name, "entry": entry, "ranked_count": track.ranked_count, "images": images,
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
