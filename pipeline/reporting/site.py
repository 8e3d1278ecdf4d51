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
and student ids) are replaced by display names unless `site.show_ids`; and before any file is
written, `site_leaks.check_no_leaks` reads it for the site key, real ids and hidden-score keys.
The feedback page's path is keyed with the site key (site_key.py), so that no one can enumerate
the others' pages. What each track shows is built in site_view.py; this module renders
it and writes site/.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import shutil
from pathlib import Path
from typing import NamedTuple, Optional

import pandas as pd

from pipeline import status
from pipeline.grading.submission_facts import MetaError, load_meta
from pipeline.reporting import (chart_cache, chart_ticks, forked, history, leaderboard, pseudonyms, rubric,
                                site_charts, site_history_chart, site_history, site_key, site_leaks, site_pareto,
                                site_view)
from pipeline.reporting.chart_worker import ChartWorker
from pipeline.reporting.site_files import SiteFiles, sync, write
from pipeline.reporting.site_images import ImageFacts, feedback_images

FEEDBACK_DIR = "feedback"
CHARTS_DIR = "charts"  # charts shared by the feedback pages
LINKS_FILE = "site_links.csv"
TEMPLATES_DIR = Path(__file__).with_name("site_templates")
TEMPLATE_CACHE = "templates"  # in the report's cache folder (chart_dir)
LOG_TAIL_LINES = 60
EVERY_LINE_ON_A_PHONE_UP_TO = 50  # submissions; beyond, the phone's history chart shows the class median
SPLIT_PAGES_FROM = 100  # feedback pages; fewer render faster than a process forks
# This process renders a little less than half: it also writes the index page, syncs site/ and
# shares its core with the chart worker, while the child only writes its own pages.
PARENT_SHARE = 0.47
# Placeholder for the student's folder in the check command (the real folder name is an id).
FOLDER_PLACEHOLDER = "YOUR_FOLDER"


def _log_tail(path: Path, redact: site_leaks.Redactor) -> str:
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return redact("\n".join(lines[-LOG_TAIL_LINES:]))


def _format_accuracy(value, decimals: int = 4) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _template_environment(cache_dir: Optional[Path] = None):
    """`cache_dir`: where the compiled templates are kept between builds (compiling them was a
    tenth of a second of every report)."""
    import jinja2

    bytecode = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        bytecode = jinja2.FileSystemBytecodeCache(str(cache_dir))
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), bytecode_cache=bytecode,
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                     auto_reload=False)  # one build: no need to stat the templates per page
    environment.filters["accuracy"] = _format_accuracy
    environment.filters["thousands"] = lambda value: "" if value is None else f"{int(value):,}"
    environment.filters["seconds"] = lambda value: "" if value is None else f"{value:.1f}"
    environment.filters["mflops"] = lambda value: "" if value is None else leaderboard.format_mflops(value)
    environment.filters["per_second"] = _per_second
    environment.filters["rank_change"] = site_view.rank_change
    environment.tests["gap"] = lambda value: isinstance(value, int)
    return environment


def _per_second(value: Optional[float]) -> str:
    """Images per second: whole thousands-separated numbers, three figures below 100."""
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _grade(entry: site_view.Entry, bands, failed_marks: float, reveal_private: bool) -> Optional[dict]:
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


def _pareto_points(entries: list[site_view.Entry], reveal_private: bool, compute: bool = False) -> tuple[list, list[int]]:
    """A Pareto chart's points (ranked entries with a size: parameters, or with `compute` MFLOPs
    per image) and which of them may carry their name."""
    metric = "private_accuracy" if reveal_private else "public_accuracy"
    points = []
    for entry in entries:
        size = entry.mflops_per_image if compute else entry.total_params
        if entry.status == status.OK and getattr(entry, metric) is not None and size:
            points.append(site_pareto.ParetoPoint(entry.name, size, getattr(entry, metric),
                                                  entry.pareto_compute if compute else entry.pareto, entry.baseline))
    to_label = leaderboard.points_to_label([point.accuracy for point in points], [point.size for point in points],
                                           [point.front for point in points], [point.baseline for point in points])
    return points, to_label


class PublishedPages(NamedTuple):
    """Some of the feedback pages, rendered, leak-checked and written by this process or a forked child."""

    paths: frozenset[str]  # what was written into site/: the pages and their images
    links: list[dict]  # submission, student_id, page: for results/site_links.csv
    images_used: dict  # what the pages read of their images (site_images.ImageFacts.used)


def _chart_file(track_name: str, chart) -> str:
    return f"{CHARTS_DIR}/history-{track_name}-{chart.variant.name}.svg"


def build_site(results_root: Path, submissions_dir: Path, site_dir: Path, track_names: list[str],
               reveal_private: bool, show_ids: bool, key: Optional[bytes],
               now: Optional[datetime.datetime] = None, ranked_tables: Optional[dict] = None,
               context: Optional[dict[str, site_view.TrackContext]] = None, grades=None,
               feedback_root: Optional[Path] = None, tie_break: str = "parameters",
               chart_dir: Optional[Path] = None, worker: Optional[ChartWorker] = None,
               display_names: Optional[dict[str, Optional[str]]] = None) -> list[str]:
    """Render site/ from the results of `track_names` (with the feedback images the grade stage
    drew), the history and the submissions' meta.yaml; return the lines to print.
    `ranked_tables`: each track's ranked table when the caller has it already (leaderboard's).
    `context`: each track's public-part size (track_context); `grades`: params' GradeSettings.
    `feedback_root`: where the grade stage put the feedback, <root>/<track>/<id>/ (default:
    results_root/<track>/feedback/<id>/, as grading.cache.ResultCache).
    `tie_break`: params' leaderboard.tie_break, so that ties rank as on the leaderboard.
    `chart_dir`: the report's cache, where the Pareto charts of the last build (chart_cache.py) and
    what it read from each feedback image (site_images.py) are kept, so that only charts whose
    points changed are drawn and only new images are read (None: everything is drawn and read).
    `worker`: where the charts are drawn (chart_worker.py: beside the pages; None: here, first).
    `display_names`: the names the grade stage read from meta.yaml (grading/display_names.py); a
    submission not in it has its meta.yaml read here."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    context = context or {}
    shown_tables, result_records, histories, versions = {}, {}, {}, {}
    for track_name in track_names:
        results_dir = results_root / track_name
        ranked = (ranked_tables or {}).get(track_name)
        if ranked is None:
            ranked = leaderboard.rank(leaderboard.load_track_results(results_dir, track_name), reveal_private,
                                      tie_break)
        shown_tables[track_name] = leaderboard.export(ranked, reveal_private)
        result_records[track_name] = {row["submission"]: {key: site_view.plain(value) for key, value in row.items()}
                                      for row in ranked[["submission"] + leaderboard.PAGE_KEYS].to_dict("records")}
        past = history.load(results_root, track_name)
        histories[track_name] = site_history.read(past, ranked["submission"].tolist())
        versions[track_name] = history.versions_by_submission(past)

    # Who is who: baselines (public reference code) keep their ids; students get display names.
    everything = pd.concat(shown_tables.values(), ignore_index=True)
    submission_ids = sorted(set(everything["submission"]))
    baselines = set(everything.loc[everything["baseline"].astype(bool), "submission"])
    chosen = {}
    for submission_id in submission_ids:
        if display_names is not None and submission_id in display_names:
            chosen[submission_id] = display_names[submission_id]
            continue
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
    redact = site_leaks.Redactor({real: names[submission_id] for submission_id in submission_ids
                                  for real in (submission_id, str(student_ids.get(submission_id) or ""))
                                  if real and real in forbidden})

    worker = worker or ChartWorker(parallel=False)
    charts = chart_cache.ChartCache(chart_dir, [Path(module.__file__) for module in (site_pareto, site_charts, chart_ticks)],
                                    worker)
    # Every chart is asked for first (the worker draws them while this process renders the pages);
    # each is waited for where it is written.
    tracks, drawing = [], {}
    metric_label = "private accuracy" if reveal_private else "public accuracy"
    for track_name, shown in shown_tables.items():
        entries = site_view.track_entries(shown, names, redact, reveal_private, result_records[track_name],
                                          histories[track_name], versions[track_name])
        points, to_label = _pareto_points(entries, reveal_private)
        compute_points, compute_to_label = _pareto_points(entries, reveal_private, compute=True)
        uncounted = sum(entry.rank is not None and entry.mflops_per_image is None for entry in entries)
        view = histories[track_name]
        # The base of every feedback page's chart: the leader and the class median.
        bases = [worker.submit(site_history_chart.history_chart, track_name, view, names, variant, everyone=False)
                 for variant in site_charts.VARIANTS]
        # On a phone, a large class's lines are one grey blob: the narrow chart is then the base's.
        history_charts = [worker.submit(site_history_chart.history_chart, track_name, view, names, variant)
                          if variant is site_charts.WIDE or len(entries) <= EVERY_LINE_ON_A_PHONE_UP_TO else base
                          for variant, base in zip(site_charts.VARIANTS, bases)]
        drawing[track_name] = {
            "feedback_charts": bases, "history": history_charts,
            "pareto_svgs": [charts.chart(site_pareto.pareto_chart, track_name, points, to_label, metric_label, variant)
                            for variant in site_charts.VARIANTS],
            "compute_svgs": [charts.chart(site_pareto.pareto_chart, track_name, compute_points, compute_to_label,
                                          metric_label, variant, site_pareto.COMPUTE,
                                          empty="no FLOPs counted yet" if uncounted else None)
                             for variant in site_charts.VARIANTS]}
        numbers = context.get(track_name, site_view.TrackContext())
        images = numbers.private_images if reveal_private else numbers.public_images
        tracks.append(site_view.TrackView(
            name=track_name, entries=entries, pareto_svgs=[], compute_svgs=[], history_svgs=[],
            # Where each page's own line goes on the base, known before the worker has drawn it.
            feedback_charts=[site_history_chart.frame(track_name, view, variant) for variant in site_charts.VARIANTS],
            uncounted=uncounted, runs=site_view.history_runs(view, names),
            ranked_count=sum(entry.rank is not None for entry in entries), context=numbers,
            decimals=site_view.decimals_for(images),
            time_label=site_view.train_time_label([entry.cpu_quota_cores for entry in entries if entry.status == status.OK])))

    image_facts = ImageFacts(chart_dir)  # read once the worker has its charts
    files = SiteFiles()  # the rest (index, shared charts): written last; anything else in site/ is removed
    environment = _template_environment(chart_dir / TEMPLATE_CACHE if chart_dir is not None else None)
    entry_row = environment.get_template("_leaderboard.html").module.entry_row
    row_html = {}
    for track in tracks:
        row_html[track.name] = {entry.submission: entry_row(track, entry, reveal_private, False) for entry in track.entries}
        track.rows = list(row_html[track.name].values())
    common = {"reveal_private": reveal_private, "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "tie_break": tie_break}

    lines = [f"site: {site_dir}/index.html: {len(tracks)} track(s), "
             f"{sum(len(track.entries) for track in tracks)} leaderboard row(s)"]
    links = []
    published: set[str] = set()  # the feedback pages and their images, checked and written already
    if key is None:
        lines.append(f"WARNING: no site key, so no feedback pages were written (their unguessable paths need a "
                     f"secret key). `python -m pipeline report` creates one in .gradebench/site-key, or set "
                     f"{site_key.SITE_KEY_ENV}.")
    else:
        page_template = environment.get_template("feedback.html")
        # An index page of its own, so that a server with directory listings on does not list the pages.
        files.write(f"{FEEDBACK_DIR}/index.html", environment.get_template("no_listing.html").render(**common))
        # Looked up per page: indexed once, not searched (a class of 1,000 would make it a million steps).
        entries = {track.name: {entry.submission: entry for entry in track.entries} for track in tracks}
        positions = {track.name: {entry.submission: index for index, entry in enumerate(track.entries)}
                     for track in tracks}
        def render_pages(ids: list[str]) -> tuple[SiteFiles, list[dict]]:
            """The feedback pages of `ids`: their files and their links."""
            part, part_links = SiteFiles(), []
            for submission_id in ids:
                token = site_key.feedback_token(submission_id, key)
                page = f"{FEEDBACK_DIR}/{token}"
                sections = []
                for track in tracks:
                    entry = entries[track.name].get(submission_id)
                    if entry is None:
                        continue
                    record = result_records[track.name].get(submission_id, {})
                    feedback_dir = feedback_root / track.name if feedback_root else results_root / track.name / "feedback"
                    images = feedback_images(feedback_dir, submission_id, track.name, site_dir, page, part, image_facts)
                    folder = submission_id if (show_ids or submission_id in baselines) else FOLDER_PLACEHOLDER
                    own_line = histories[track.name].lines.get(submission_id, [])
                    bands = (grades.bands.get(track.name) if grades is not None else None)
                    sections.append({
                        "track": track, "entry": entry, "ranked_count": track.ranked_count, "images": images,
                        "rows": [row if isinstance(row, int) else entry_row(track, row, reveal_private, True)
                                 if row.submission == submission_id else row_html[track.name][row.submission]
                                 for row in site_view.window(track.entries, positions[track.name].get(submission_id, 0))],
                        "history_svgs": [site_history_chart.own_line(
                            chart, f"../../{_chart_file(track.name, chart)}", own_line, entry.name,
                            f"{track.name}: your public accuracy at each grade run in blue, the leader's in red, the "
                            f"class median dashed in grey") for chart in track.feedback_charts if chart is not None],
                        "grade": _grade(entry, bands, grades.failed_marks if grades is not None else 0, reveal_private),
                        "time_label": site_view.train_time_label([entry.cpu_quota_cores]),
                        "model_summary": redact(record.get("model_summary")),
                        "log_tail": _log_tail(results_root / track.name / f"{submission_id}.log", redact),
                        "versions": site_view.earlier_versions(versions[track.name].get(submission_id, []),
                                                               record.get("content_hash")),
                        "check_command": f"python -m pipeline check submissions/{folder} --track {track.name}",
                        "folder_hidden": folder == FOLDER_PLACEHOLDER,
                    })
                part.write(f"{page}/index.html", page_template.render(name=names[submission_id], sections=sections,
                                                                      **common))
                part_links.append({"submission": submission_id, "student_id": student_ids.get(submission_id),
                                   "page": f"{page}/index.html"})
            return part, part_links

        # Rendering a page per student is the longest step of a report: with a second core, a
        # forked child renders the second half meanwhile.
        split = worker.parallel and len(submission_ids) >= SPLIT_PAGES_FROM
        half = round(len(submission_ids) * PARENT_SHARE) if split else len(submission_ids)

        def publish_pages(ids: list[str]) -> PublishedPages:
            """Render the pages of `ids` and write them into site/ once they pass the leak check;
            only their paths come back (from the child: no pickling of a thousand pages), and each
            half is written while the other process still works."""
            pages, page_links = render_pages(ids)
            site_leaks.check_no_leaks(site_dir, pages.texts, forbidden, key, reveal_private)
            write(site_dir, pages)
            return PublishedPages(frozenset(pages.texts) | frozenset(pages.links), page_links, image_facts.used)

        second = forked.Forked(lambda: publish_pages(submission_ids[half:])) if half < len(submission_ids) else None
        try:
            parts = [publish_pages(submission_ids[:half])]
        except site_leaks.SiteError:
            if second is not None:  # site/ is removed again once the child's writes have ended
                with contextlib.suppress(Exception):
                    second.result()
                shutil.rmtree(site_dir, ignore_errors=True)
            raise
        if second is not None:
            try:
                parts.append(second.result())
            except site_leaks.SiteError:  # the child removed site/, perhaps before this half was written
                shutil.rmtree(site_dir, ignore_errors=True)
                raise
        for part in parts:
            published |= part.paths
            links += part.links
            image_facts.use(part.images_used)
        lines.append(f"site: {len(links)} feedback page(s) under {site_dir}/{FEEDBACK_DIR}/; their links (to mail "
                     f"each student theirs) in {results_root / LINKS_FILE}")
    image_facts.save()  # while the worker may still be drawing
    for track in tracks:
        if key is not None:  # the base of each page's chart, one file per track and width
            for chart in (job.result() for job in drawing[track.name]["feedback_charts"]):
                if chart is not None:
                    files.write(_chart_file(track.name, chart), chart.svg)
        track.pareto_svgs = [job.result() for job in drawing[track.name]["pareto_svgs"]]
        track.compute_svgs = [job.result() for job in drawing[track.name]["compute_svgs"]]
        track.history_svgs = [chart.svg for chart in (job.result() for job in drawing[track.name]["history"])
                              if chart is not None]
    files.write("index.html", environment.get_template("index.html").render(tracks=tracks, **common))
    site_leaks.check_no_leaks(site_dir, files.texts, forbidden, key, reveal_private)
    sync(site_dir, files, published)
    charts.save()
    lines.append(f"site: {charts.drawn} of {charts.asked} Pareto charts drawn (the others' points had not changed)")
    with open(results_root / LINKS_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["submission", "student_id", "page"])
        writer.writeheader()
        writer.writerows(links)
    return lines
