"""The static course site (`python -m pipeline site`): what it shows, what it must never publish,
and the rendered pages opened in headless Chromium (no console error, no request leaving the
machine, leaderboard in rank order with pseudonyms, plots present, history points, axe-core).

Unit tests build a small results folder by hand (seconds); the browser tests use the site that
the shared `dvc repro` fixture (tests/conftest.py) renders with its `report` stage."""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.paths import Paths
from pipeline.reporting import (feedback, history, leaderboard, pseudonyms, site, site_charts, site_history,
                                site_history_chart, site_key, site_leaks, site_pareto, site_view)
from tests.helpers import ARTIFACTS, STUDENTS, chromium, needs_chromium

KEY = b"test-site-key-0123456789abcdef"
VALIDATION_LABELS = [position % 10 for position in range(30)]
VALIDATION_IMAGES = np.random.default_rng(0).integers(0, 255, (30, 28, 28), dtype=np.uint8)
START_OF_TERM = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
PRIVATE_VALUES = {"alice": 0.8123456, "bob": 0.7012345, "small_cnn": 0.9345678}


def _result(submission: str, accuracy, private, params: int, *, baseline=False, status="ok", error=None,
            student_id=None, content_hash="c0ffee") -> dict:
    return {"submission": submission, "student_id": student_id or submission, "baseline": baseline,
            "status": status, "error": error, "public_accuracy": accuracy, "public_accuracy_std": None,
            "private_accuracy": private, "private_accuracy_std": None, "test_accuracy": private,
            "validation_accuracy": accuracy, "trainable_params": params, "total_params": params,
            "train_seconds": 12.5, "predict_seconds": 0.3, "submitted_at": "2026-01-01T00:00:00+00:00",
            "architecture_hash": f"a-{submission}", "source_hash": f"s-{submission}", "seeds": [1234],
            "content_hash": content_hash, "model_summary": f"Model: {submission}\nDense (10)",
            "schema_version": 2, "track": "mnist", "cache_key": "k", "data_fingerprint": "d",
            "grader_fingerprint": "g", "schedule": {}, "grading_config": {}, "graded_at": "2026-01-01T00:00:00+00:00"}


def make_results(root: Path) -> tuple[Path, Path]:
    """results/ and submissions/ for one track: two students (alice chose a display name), one
    failed student and a baseline, with feedback images, logs and two grade runs of history."""
    results, submissions = root / "results", root / "submissions"
    track_dir = results / "mnist"
    records = [
        _result("alice", 0.91, PRIVATE_VALUES["alice"], 5000, student_id="s9001", content_hash="hash-a2"),
        _result("bob", 0.85, PRIVATE_VALUES["bob"], 900, student_id="s9002"),
        _result("carol", None, None, None, status="invalid", student_id="s9003",
                error="carol/model.py, line 6: SyntaxError: expected ':'"),
        _result("small_cnn", 0.95, PRIVATE_VALUES["small_cnn"], 34826, baseline=True),
    ]
    for record in records:
        name = record["submission"]
        (submissions / name).mkdir(parents=True)
        meta = {"student_id": record["student_id"]} if not record["baseline"] else {"baseline": True}
        if name == "alice":
            meta["display_name"] = "Night Owl"
        (submissions / name / "meta.yaml").write_text("".join(f"{k}: {v}\n" for k, v in meta.items()))
        track_dir.mkdir(parents=True, exist_ok=True)
        (track_dir / f"{name}.json").write_text(json.dumps(record))
        (track_dir / f"{name}.log").write_text(f"mnist/{name}: epoch 1/2 accuracy=0.5\nlast line of {name}\n")
        if record["status"] == "ok":  # the feedback files the grade stage writes, drawn by the real code
            predicted = np.array([(label + (position % 3 == 0)) % 10 for position, label in enumerate(VALIDATION_LABELS)])
            feedback.write_feedback(track_dir / "feedback" / name, track_dir / "confusion" / f"{name}.csv", "mnist",
                                    {"loss": [2.0, 1.0], "accuracy": [0.5, 0.8], "val_loss": [1.9, 1.1],
                                     "val_accuracy": [0.55, 0.75]},
                                    VALIDATION_IMAGES, np.array(VALIDATION_LABELS), np.eye(10)[predicted],
                                    [str(digit) for digit in range(10)])
    ranked = leaderboard.rank(leaderboard.load_track_results(track_dir, "mnist"))
    first = datetime.datetime(2026, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)
    older = [dict(record, content_hash="hash-a1") if record["submission"] == "alice" else record
             for record in records]
    history.record(results, "mnist", ranked, older, first)
    history.record(results, "mnist", ranked, records, first + datetime.timedelta(hours=5))
    return results, submissions


def build(tmp_path: Path, key=KEY, reveal_private=False, show_ids=False) -> tuple[Path, list[str]]:
    results, submissions = make_results(tmp_path)
    site_dir = tmp_path / "site"
    lines = site.build_site(results, submissions, site_dir, ["mnist"], reveal_private, show_ids, key)
    return site_dir, lines


def all_text(site_dir: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in site_dir.rglob("*") if path.suffix == ".html")


def test_pseudonyms_are_stable_distinct_and_a_chosen_name_wins():
    first = pseudonyms.display_names(["alice", "bob", "carol"], {"alice": "Night Owl"}, KEY)
    assert first == pseudonyms.display_names(["carol", "bob", "alice"], {"alice": "Night Owl"}, KEY)
    assert first["alice"] == "Night Owl" and len(set(first.values())) == 3
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d\d", first["bob"])
    assert pseudonyms.generated("bob", KEY) != pseudonyms.generated("bob", b"another-key-0123456789")
    clash = pseudonyms.display_names(["a", "b"], {"a": "Same", "b": "same"}, KEY)
    assert clash == {"a": "Same", "b": "same (2)"}


def test_history_records_each_grade_run_and_its_changes(tmp_path):
    results, _ = make_results(tmp_path)
    past = history.load(results, "mnist")
    assert len(past.runs) == 2 and past.runs["leader"].tolist() == ["small_cnn"] * 2
    # Four submissions at the first run, alice's new version at the second, a summary row each.
    assert len(pd.read_csv(history.history_path(results, "mnist"))) == 4 + 1 + 1 + 1
    view = site_history.read(past, ["small_cnn", "alice", "bob", "carol"])  # as the site reads it
    assert len(view.times) == 2 and [run["ranked"] for run in view.runs] == [3, 3]
    assert view.lines == {"small_cnn": [(0, 0.95), (1, 0.95)], "alice": [(0, 0.91), (1, 0.91)],
                          "bob": [(0, 0.85), (1, 0.85)]}  # carol failed: no line
    assert view.median_accuracy == [0.91, 0.91] and view.leader_accuracy == [0.95, 0.95]
    assert view.previous_ranks == {"small_cnn": 1, "alice": 2, "bob": 3, "carol": None}
    versions = history.versions_by_submission(past)
    assert [version["content_hash"] for version in versions["alice"]] == ["hash-a2", "hash-a1"]


def _history(root: Path, runs: int, students: int, changed_at: int, fixed: dict = None) -> site_history.HistoryView:
    """`runs` grade runs of `students`, recorded by history.record and read as the site reads them;
    student_000's accuracy improves at run `changed_at`; `fixed`: submissions with a fixed accuracy."""
    from tests.reporting.test_history import ranked_table

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    for run in range(runs):
        class_state = {f"student_{index:03d}": (f"h{index}", (fixed or {}).get(
            f"student_{index:03d}", 0.5 + index / 1000 + (0.1 if index == 0 and run >= changed_at else 0)))
            for index in range(students)}
        table, results = ranked_table(class_state)
        history.record(root, "mnist", table, results, start + datetime.timedelta(hours=run))
    return site_history.read(history.load(root, "mnist"), [])


def test_the_history_chart_marks_changes_not_every_grade_run(tmp_path):
    """Every grade run records every submission; drawing each record would grow the page by N points
    per run. Per submission: its first and last run and each change, joined by flat steps."""
    names = {f"student_{index:03d}": f"name {index:03d}" for index in range(50)}
    points = []
    for runs in (10, 40):
        view = _history(tmp_path / str(runs), runs, 50, changed_at=5)
        svg = site_history_chart.history_chart("mnist", view, names, site_charts.WIDE).svg
        group = svg[svg.index('-history-submissions"'):svg.index('-leader"')]
        points.append(group.count("<use"))
        leader = re.search(r'\n( *)<g id="[^"]*-leader">(.*?)\n\1</g>', svg, re.S).group(2)
        assert leader.count("<use") == runs  # the leader: a point per grade run
    assert points == [50 * 2 + 1, 50 * 2 + 1]  # first + last of each, + student_000's change


def test_the_site_reads_the_history_in_time_linear_in_its_changes(tmp_path):
    """R grade runs of N submissions with a few changes: what the chart is handed (each line's
    points) and what the history holds grow with the changes, not with R x N; the per-run figures
    come from one summary row a run."""
    from tests.reporting.test_history import ranked_table

    students = 200
    names = {f"s{index:03d}": f"name {index:03d}" for index in range(students)}
    drawn = {}
    for runs in (5, 40):
        root = tmp_path / str(runs)
        class_state = {submission: (f"h{index}", 0.5 + index / 1000) for index, submission in enumerate(names)}
        changes = 0
        for run in range(runs):
            if run % 4 == 0 and 0 < run < runs - 1:  # two students hand in better models
                for submission in (f"s{run:03d}", f"s{run + 1:03d}"):
                    class_state[submission] = (class_state[submission][0] + "+", class_state[submission][1] + 0.2)
                    changes += 1
            table, results = ranked_table(class_state)
            history.record(root, "mnist", table, results, START_OF_TERM + datetime.timedelta(hours=run))
        past = history.load(root, "mnist")
        view = site_history.read(past, [])
        points = site_history_chart.line_points(view, names)
        # A line's first and last run, and each change: 2 N + changes points, whatever R.
        assert len(points) == 2 * students + changes, (runs, len(points))
        assert len(past.points) <= 2 * (students + changes)
        assert len(view.runs) == runs and len(view.leader_accuracy) == len(view.median_accuracy) == runs
        drawn[runs] = (len(points), changes)
    assert drawn == {5: (2 * students, 0), 40: (2 * students + 18, 18)}  # 8 times the runs: only the changes add points


def test_the_history_chart_waits_for_two_runs_spans_only_the_runs_and_shows_ties(tmp_path):
    names = {f"student_{index:03d}": f"name {index:03d}" for index in range(4)}
    one_run = _history(tmp_path / "one", 1, 4, changed_at=5)
    assert site_history_chart.history_chart("mnist", one_run, names, site_charts.WIDE) is None
    frame = _history(tmp_path / "three", 3, 4, changed_at=5, fixed={"student_001": 0.7, "student_002": 0.7})  # a tie
    chart = site_history_chart.history_chart("mnist", frame, names, site_charts.NARROW)
    left, _ = chart.to_svg(-0.35, 0.7)
    right, _ = chart.to_svg(2.35, 0.7)
    first, _ = chart.to_svg(0, 0.7)
    last, _ = chart.to_svg(2, 0.7)
    assert left < first < last < right and (first - left) / (right - left) < 0.15  # runs 0..2 and a margin, no more
    tied = site_history_chart.dodged(np.array([0, 0, 1]), np.array([0.7, 0.7, 0.7]))
    assert tied[0] != tied[1] and tied[2] == 1
    page = site_history_chart.own_line(site_history_chart.history_chart("mnist", frame, names, site_charts.WIDE, everyone=False),
                                "../../charts/base.svg", [(0, 0.5), (1, 0.6), (2, 0.6)], "Night <Owl>", "label")
    assert page.count("<circle") == 3 and "Night &lt;Owl&gt; (you)" in page and 'href="../../charts/base.svg"' in page


def test_a_pages_own_line_lands_on_the_drawn_chart_though_placed_before_it_is_drawn(tmp_path):
    """The pages place their line with `frame` (no matplotlib) while the worker draws the chart:
    the leader's marks in the drawn SVG must sit where the frame puts the leader's values."""
    names = {f"student_{index:03d}": f"name {index:03d}" for index in range(4)}
    view = _history(tmp_path, 5, 4, changed_at=2, fixed={"student_001": 0.55})
    for variant in site_charts.VARIANTS:
        frame = site_history_chart.frame("mnist", view, variant)
        chart = site_history_chart.history_chart("mnist", view, names, variant, everyone=False)
        leader = chart.svg[chart.svg.index(f'id="{frame.id_prefix}leader"'):]
        leader = leader[:leader.index("</g>\n   </g>")]
        marks = [(float(x), float(y)) for x, y in re.findall(r'<use [^>]* x="([-\d.]+)" y="([-\d.]+)"', leader)]
        expected = [frame.to_svg(run, accuracy) for run, accuracy in enumerate(view.leader_accuracy)]
        assert len(marks) == len(expected) == 5 and len({y for _, y in expected}) > 1, (marks, expected)
        assert np.allclose(marks, expected, atol=1e-3), (variant.name, marks, expected)
        assert chart.id_prefix == frame.id_prefix and chart.to_svg == frame.to_svg
    assert site_history_chart.frame("mnist", _history(tmp_path / "one", 1, 4, changed_at=5), site_charts.WIDE) is None


def _contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of a #rrggbb colour against white."""
    channels = [int(colour[index:index + 2], 16) / 255 for index in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 1.05 / (0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2] + 0.05)


def test_every_mark_of_the_charts_has_3_to_1_contrast_and_the_front_is_a_star(tmp_path):
    """WCAG 1.4.11: every data mark (points, lines) at least 3:1 against the white background; the
    Pareto front differs from the rest by shape (a star path) as well as colour."""
    points = [site_pareto.ParetoPoint(f"m{index}", 1000 * (index + 1), 0.8 + index / 100, index % 2 == 0, index == 3)
              for index in range(6)]
    names = {f"student_{index:03d}": f"name {index:03d}" for index in range(5)}
    frame = _history(tmp_path, 3, 5, changed_at=1)
    svgs = [site_pareto.pareto_chart("mnist", points, list(range(6)), "public accuracy", site_charts.WIDE),
            site_pareto.pareto_chart("mnist", points, list(range(6)), "public accuracy", site_charts.NARROW,
                                     site_pareto.COMPUTE),
            site_history_chart.history_chart("mnist", frame, names, site_charts.NARROW).svg,
            site_history_chart.history_chart("mnist", frame, names, site_charts.WIDE, everyone=False).svg]
    for svg in svgs:
        for group in re.findall(r'<g id="[^"]*-(?:points-[\w-]+|pareto-line|leader|history-[\w-]+)">(.*?)</g>', svg, re.S):
            colours = set(re.findall(r"(?:stroke|fill): (#[0-9a-f]{6})", group)) - {"#ffffff"}
            assert colours and all(_contrast_on_white(colour) >= 3 for colour in colours), colours
    for pareto, better in ((svgs[0], "smaller"), (svgs[1], "cheaper")):  # parameters, compute
        front = re.search(r'-points-front">(.*?)</g>', pareto, re.S).group(1)
        other = re.search(r'-points-other">(.*?)</g>', pareto, re.S).group(1)
        marker = re.compile(r'<path id="([^"]+)" d="([^"]+)"')
        shapes = dict(marker.findall(pareto))
        used = lambda group: {shapes[ref] for ref in re.findall(r'xlink:href="#([^"]+)"', group)}  # noqa: E731
        assert used(front) and used(other) and not used(front) & used(other)  # different marker paths
        legend = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", pareto))
        assert f"Pareto front: no one is both more accurate and {better}" in legend  # what ★ is


def test_numbers_come_with_their_context():
    assert [site_view.decimals_for(images) for images in (None, 100, 150, 1094, 3000)] == [4, 2, 3, 4, 4]
    assert site_view.TrackContext(hidden_images=3647, public_fraction=0.3).public_images == 1094
    assert site_view.train_time_label([None, 2.0]) == "wall time on a shared machine"
    assert site_view.train_time_label([2.0, 2.0]) == "on a dedicated CPU quota of 2 cores"
    assert site_view.train_time_label([1, 1.0]) == "on a dedicated CPU quota of 1 core"
    entries = [site_view.Entry(f"s{index}", f"n{index}", False, "ok", "", index + 1, 0.9, None, None, 10, 10, 1.0, False)
               for index in range(100)]
    shown = site_view.window(entries, 50)
    assert [row if isinstance(row, int) else row.rank for row in shown] == [1, 2, 3, 44, *range(48, 55), 46]
    assert site_view.window(entries[:30], 3) == entries[:30]

def test_pareto_plots_name_baselines_and_a_few_distinct_front_points_in_a_large_class():

    # 300 students on 3 identical models (tied, so all on the front) and 700 dominated, 2 baselines.
    accuracy = [0.90, 0.80, 0.70] * 100 + [0.5] * 700 + [0.95, 0.6]
    params = [1000, 500, 100] * 100 + [5000] * 700 + [2000, 50]
    front = [True] * 300 + [False] * 700 + [True, True]
    baseline = [False] * 1000 + [True, True]
    chosen = leaderboard.points_to_label(accuracy, params, front, baseline)
    assert chosen == [0, 1, 2, 1000, 1001]  # one name per distinct front point, and every baseline
    many = list(range(40))  # 40 distinct front points: the 15 most accurate are named
    assert leaderboard.points_to_label([i / 100 for i in many], many, [True] * 40, [False] * 40) == list(range(25, 40))
    assert leaderboard.points_to_label([0.5] * 5, [1] * 5, [False] * 5, [False] * 5) == [0, 1, 2, 3, 4]


def test_site_publishes_no_hidden_score_real_id_or_key(tmp_path):
    site_dir, lines = build(tmp_path)
    text = all_text(site_dir)
    for value in PRIVATE_VALUES.values():
        assert f"{value:.4f}" not in text and str(value) not in text
    for forbidden in ("private_accuracy", "test_accuracy", "private accuracy", KEY.decode(), "s9001", "s9002",
                      "s9003", "grades.csv"):
        assert forbidden.lower() not in text.lower(), forbidden
    for real_id in ("alice", "bob", "carol"):
        assert not re.search(rf"\b{real_id}\b", text), real_id
    assert "Night Owl" in text and "small_cnn" in text  # chosen name; baselines keep theirs
    links = pd.read_csv(tmp_path / "results" / site.LINKS_FILE)
    assert sorted(links["submission"]) == ["alice", "bob", "carol", "small_cnn"]
    for page in links["page"]:
        assert (site_dir / page).is_file() and re.fullmatch(r"feedback/[0-9a-f]{32}/index\.html", page)
    assert any("4 feedback page(s)" in line for line in lines)


def test_feedback_page_shows_status_plots_versions_and_check_command(tmp_path):
    site_dir, _ = build(tmp_path)
    links = pd.read_csv(tmp_path / "results" / site.LINKS_FILE).set_index("submission")["page"]
    alice = (site_dir / links["alice"]).read_text()
    assert "Feedback for Night Owl" in alice and "1 of 3" not in alice  # rank 2 of 3 ranked
    assert "2 of 3" in alice and "0.9100" in alice
    assert alice.count('<img class="plot"') == 3
    page_dir = (site_dir / links["alice"]).parent
    assert sorted(path.name for path in page_dir.glob("*.png")) == [
        "mnist_confusion_matrix.png", "mnist_learning_curves.png", "mnist_misclassified.png"]
    assert "python -m pipeline check submissions/YOUR_FOLDER --track mnist" in alice
    assert "hash-a" in alice and "(current)" in alice  # both versions from the history
    assert "last line of Night Owl" in alice  # the log tail, id replaced by the display name
    carol = (site_dir / links["carol"]).read_text()
    assert "Status: invalid." in carol and "SyntaxError" in carol and "No plots" in carol
    baseline = (site_dir / links["small_cnn"]).read_text()
    assert "python -m pipeline check submissions/small_cnn --track mnist" in baseline


def test_the_compute_front_renders_and_says_who_has_no_figure_and_ties_rank_as_configured(tmp_path):
    """The accuracy-vs-compute chart: the compute front as stars (not the parameter front), the
    submissions with no FLOPs figure left out and counted in a sentence; a feedback page states the
    figures and the track's budget; `tie_break: compute` orders a tie by MFLOPs as `leaderboard` does."""
    results, submissions = make_results(tmp_path)
    track_dir = results / "mnist"
    # alice: small in parameters, costly in compute; dan: alice's accuracy, many parameters, cheap;
    # bob: graded before the count (no figure).
    figures = {"alice": (4.94, 2100.0), "small_cnn": (2.31, 950.0)}
    for name, (mflops, speed) in figures.items():
        path = track_dir / f"{name}.json"
        record = dict(json.loads(path.read_text()), mflops_per_image=mflops, images_per_second=speed)
        path.write_text(json.dumps(record))
    (submissions / "dan").mkdir()
    (submissions / "dan" / "meta.yaml").write_text("student_id: s9004\n")
    (track_dir / "dan.json").write_text(json.dumps(dict(_result("dan", 0.91, 0.8, 60000, student_id="s9004"),
                                                        mflops_per_image=0.0157, images_per_second=41.25)))
    site_dir = tmp_path / "site"
    context = {"mnist": site_view.TrackContext(hidden_images=1000, max_mflops_per_image=20)}

    def build_with(tie_break):
        site.build_site(results, submissions, site_dir, ["mnist"], False, False, KEY, context=context,
                        tie_break=tie_break)
        links = pd.read_csv(results / site.LINKS_FILE).set_index("submission")["page"]
        pages = {name: (site_dir / page).read_text() for name, page in links.items()}
        return (site_dir / "index.html").read_text(), pages

    index, pages = build_with("compute")
    figure = re.search(r'<figure class="pareto compute".*?</figure>', index, re.S).group(0)
    assert "accuracy against compute" in figure and "MFLOPs per image (log scale)" in figure
    assert "Pareto front: no one is both more accurate and cheaper" in figure
    assert len(re.findall(r'<svg class="chart (?:wide|narrow)"', figure)) == 2  # a desktop and a phone version
    # On the compute front: small_cnn (most accurate) and dan (the cheapest); alice is dominated by
    # dan (as accurate, cheaper), though on the parameter front.
    wide = re.search(r'<svg class="chart wide".*?</svg>', figure, re.S).group(0)
    markers = {group: len(re.findall(r"<use ", body))
               for group, body in re.findall(r'-points-([\w-]+)">(.*?)</g>', wide, re.S)}
    assert markers == {"front": 1, "front-baseline": 1, "other": 1}, markers
    assert "1 ranked submission was graded before the grader counted FLOPs" in figure
    assert "3 of 3 points named" in wide  # bob is not a point
    assert "Ties go to fewer MFLOPs per image" in index
    dan_page = pages["dan"]
    assert "0.0157 MFLOPs per image (this track's budget: 20)" in dan_page
    assert "on the compute Pareto front ★" in dan_page and "41.2 images per second" in dan_page
    assert "4.94 MFLOPs per image" in pages["alice"] and "2,100 images per second" in pages["alice"]
    assert "on the compute Pareto front" not in pages["alice"]
    assert "not counted (graded before the grader counted FLOPs)" in pages["bob"]
    assert "2 of 4" in dan_page and "3 of 4" in pages["alice"]  # the tie goes to the cheaper model
    _, pages = build_with("parameters")
    assert "2 of 4" in pages["alice"] and "3 of 4" in pages["dan"]  # now to fewer parameters


def test_the_track_context_carries_the_compute_budget(tmp_path):
    from pipeline.config import load_params
    from pipeline.data import layout
    from tests.helpers import REPO

    params = load_params(REPO / "params.yaml")
    name, track = next(iter(params.tracks.items()))
    track = track.model_copy(update={"limits": track.limits.model_copy(update={"max_mflops_per_image": 20.0})})
    params = params.model_copy(update={"tracks": {**params.tracks, name: track}})
    (tmp_path / track.dataset).mkdir()
    (tmp_path / track.dataset / layout.META_FILE).write_text(json.dumps({"counts": {"hidden": 1000}}))
    found = site_view.track_context(params, tmp_path)
    assert found[name].max_mflops_per_image == 20.0 and found[name].hidden_images
    assert all(context.max_mflops_per_image is None for other, context in found.items() if other != name)


def test_a_track_graded_before_flops_were_counted_says_so_on_its_compute_chart(tmp_path):
    site_dir, _ = build(tmp_path)  # results without mflops_per_image, as graded before the count
    figure = re.search(r'<figure class="pareto compute".*?</figure>', (site_dir / "index.html").read_text(), re.S)
    assert "mnist: no FLOPs counted yet" in figure.group(0)
    assert "3 ranked submissions were graded before the grader counted FLOPs, so they are" in figure.group(0)


def test_pages_publish_the_grade_stages_images_and_never_one_titled_with_an_id(tmp_path):
    """The site draws nothing per page: it links the images the grade stage drew (titled by track,
    marked so in the PNG). An image without that mark, like those older versions titled with the
    submission's id, stays off the page."""
    site_dir, _ = build(tmp_path)
    links = pd.read_csv(tmp_path / "results" / site.LINKS_FILE).set_index("submission")["page"]
    graded = tmp_path / "results" / "mnist" / "feedback" / "bob" / feedback.CURVES_PNG
    published = (site_dir / links["bob"]).parent / f"mnist_{feedback.CURVES_PNG}"
    assert published.read_bytes() == graded.read_bytes() and feedback.is_id_free(published)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.suptitle("mnist/bob: learning curves")  # as drawn before the mark existed
    graded.unlink()  # a grade stage draws new files, never into the ones a site build linked
    figure.savefig(graded, dpi=feedback.DPI)
    site.build_site(tmp_path / "results", tmp_path / "submissions", site_dir, ["mnist"], False, False, KEY)
    bob = (site_dir / links["bob"]).read_text()
    assert bob.count('<img class="plot"') == 2 and not published.exists()


def test_a_rebuild_writes_only_what_changed_and_removes_pages_no_longer_wanted(tmp_path):
    """site/ is synced, not deleted and written again: an unchanged page keeps its mtime and an
    image its inode (so DVC need not hash them again), while the page of a deleted submission and
    the pages of an old key disappear."""
    site_dir, _ = build(tmp_path)
    now = datetime.datetime(2026, 1, 2, 9, 0, tzinfo=datetime.timezone.utc)
    results, submissions = tmp_path / "results", tmp_path / "submissions"

    def rebuild(key=KEY):
        site.build_site(results, submissions, site_dir, ["mnist"], False, False, key, now=now)
        return pd.read_csv(results / site.LINKS_FILE).set_index("submission")["page"]

    links = rebuild()
    bob_page = site_dir / links["bob"]
    bob_image = bob_page.parent / f"mnist_{feedback.CURVES_PNG}"
    before = (bob_page.stat().st_mtime_ns, bob_image.stat().st_ino)
    links = rebuild()
    assert (bob_page.stat().st_mtime_ns, bob_image.stat().st_ino) == before
    assert bob_image.stat().st_ino == (results / "mnist" / "feedback" / "bob" / feedback.CURVES_PNG).stat().st_ino

    (results / "mnist" / "bob.json").unlink()  # as the grade stage does for a deleted submission
    links = rebuild()
    assert "bob" not in links and not bob_page.parent.exists()
    pages = sorted(path.parent.name for path in (site_dir / site.FEEDBACK_DIR).glob("*/index.html"))
    rebuild(key=b"another-key-of-at-least-16-bytes")
    assert not any((site_dir / site.FEEDBACK_DIR / page).exists() for page in pages)
    assert len(list((site_dir / site.FEEDBACK_DIR).glob("*/index.html"))) == len(pages)


def test_a_rebuild_draws_only_the_charts_whose_points_changed_and_publishes_the_same_bytes(tmp_path):
    """The Pareto charts are kept between builds under a hash of their inputs: a rebuild with
    nothing changed draws none and writes the same page; a changed score draws the charts it moves
    a point on, and only the last build's charts are kept; a build without the cache gives the
    same bytes."""
    results, submissions = make_results(tmp_path)
    now = datetime.datetime(2026, 1, 2, 9, 0, tzinfo=datetime.timezone.utc)
    charts = tmp_path / "chart-cache"

    def rebuild(site_dir: Path, chart_dir=charts) -> tuple[str, str]:
        lines = site.build_site(results, submissions, site_dir, ["mnist"], False, False, KEY, now=now,
                                chart_dir=chart_dir)
        return next(line for line in lines if "Pareto charts drawn" in line), (site_dir / "index.html").read_text()

    first_line, first_page = rebuild(tmp_path / "site")
    assert first_line.startswith("site: 4 of 4 Pareto charts drawn")
    kept = sorted(path.name for path in charts.glob("*.svg"))
    assert len(kept) == 4
    again_line, again_page = rebuild(tmp_path / "site")
    assert again_line.startswith("site: 0 of 4 Pareto charts drawn") and again_page == first_page
    assert sorted(path.name for path in charts.glob("*.svg")) == kept

    bob = json.loads((results / "mnist" / "bob.json").read_text())
    (results / "mnist" / "bob.json").write_text(json.dumps({**bob, "public_accuracy": 0.99}))
    changed_line, changed_page = rebuild(tmp_path / "site")
    # Bob's point moved on the size charts (both widths); no one has a FLOPs figure here, so the
    # compute charts are unchanged and kept.
    assert changed_line.startswith("site: 2 of 4 Pareto charts drawn") and changed_page != first_page
    now_kept = {path.name for path in charts.glob("*.svg")}
    assert len(now_kept) == 4 and len(now_kept & set(kept)) == 2  # the two old size charts are gone
    _, uncached_page = rebuild(tmp_path / "site-uncached", chart_dir=None)
    assert uncached_page == changed_page


def test_without_a_key_no_feedback_pages_and_a_clear_warning(tmp_path):
    site_dir, lines = build(tmp_path, key=None)
    assert (site_dir / "index.html").is_file() and not (site_dir / site.FEEDBACK_DIR).exists()
    assert any(line.startswith("WARNING: no site key") for line in lines)
    # Every output the site stage declares in dvc.yaml exists, or `dvc repro` fails without a key.
    assert (tmp_path / "results" / site.LINKS_FILE).is_file()


def test_the_site_key_is_created_once_kept_private_and_overridden_by_the_environment(tmp_path):
    key_file = tmp_path / ".gradebench" / "site-key"
    key, line = site_key.resolve_key(key_file, None)
    assert len(key) >= 32 and key_file.stat().st_mode & 0o777 == 0o600
    assert line.startswith(f"site key: created {key_file} (mode 0600") and "Keep this file" in line
    assert site_key.resolve_key(key_file, None) == (key, f"site key: {key_file} (reused)")
    own = "an-instructor-chosen-key-0123456789"
    assert site_key.resolve_key(key_file, own) == (own.encode(), f"site key: from {site_key.SITE_KEY_ENV}")
    with pytest.raises(site_key.SiteKeyError, match="at least 16 random characters.*secrets.token_urlsafe"):
        site_key.resolve_key(key_file, "short")
    key_file.write_text("tiny\n")
    with pytest.raises(site_key.SiteKeyError, match=re.escape(str(key_file))):
        site_key.resolve_key(key_file, None)


def test_private_column_only_after_reveal_and_ids_only_when_asked(tmp_path):
    site_dir, _ = build(tmp_path, reveal_private=True, show_ids=True)
    index = (site_dir / "index.html").read_text()
    assert '<th scope="col" class="number">Private</th>' in index and f"{PRIVATE_VALUES['alice']:.4f}" in index
    assert re.search(r"\balice\b", index)


def test_a_leak_is_refused_and_nothing_published(tmp_path, monkeypatch):
    monkeypatch.setattr(site, "FOLDER_PLACEHOLDER", "carol")  # as if a page printed a real folder name
    with pytest.raises(site_leaks.SiteError, match="real id 'carol'"):
        build(tmp_path)
    assert not (tmp_path / "site").exists()


def test_redaction_and_the_leak_check_find_every_id_in_one_pass(tmp_path):
    """A class of 1,000 is searched in one pass per text (Aho-Corasick), with the same rules as one
    search per id: the longest id wins where ids overlap, and a leak is a whole word only."""
    ids = {f"student_{number:04d}": f"Name {number}" for number in range(1000)}
    redact = site_leaks.Redactor({**ids, "student_00012": "Twelve", "s.mith@uni.edu": "Smith"})
    assert redact("student_00012 and student_0001, mail s.mith@uni.edu.") == "Twelve and Name 1, mail Smith."
    assert site_leaks.Redactor({})("nothing to do") == "nothing to do"
    site_dir = tmp_path / "site"
    texts = {"index.html": "annotate student_09999 and x-student_0001-y, ann_1"}
    site_leaks.check_no_leaks(site_dir, texts, {"ann", *ids}, KEY, reveal_private=False)  # only inside longer names
    for leak, what in (("<td>student_0999</td>", "real id 'student_0999'"), (f"?k={KEY.decode()}", "the site key"),
                       ('{"private_accuracy": 1}', "hidden score 'private_accuracy'"),
                       ("mail s.mith@uni.edu.", "real id 's.mith@uni.edu'")):
        site_dir.mkdir(exist_ok=True)  # an earlier build's
        with pytest.raises(site_leaks.SiteError, match=re.escape(what)):
            site_leaks.check_no_leaks(site_dir, {"feedback/x/index.html": f"annotate {leak}"}, {"ann", "s.mith@uni.edu", *ids},
                                KEY, reveal_private=False)
        assert not site_dir.exists()


# ---------------------------------------------------------------------------------------------
# The site rendered by the shared `dvc repro` fixture, opened in headless Chromium.

# No DNS at all: any request for a host would fail (and show up as a console error) instead of leaving.
OFFLINE, WINDOW = "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,900"
# Every URL the page itself fetched or refers to (resources, links, images, stylesheets).
PAGE_URLS = """
const urls = performance.getEntriesByType('resource').map(entry => entry.name);
document.querySelectorAll('[src],[href],[srcset]').forEach(element => {
  for (const name of ['src', 'href', 'srcset']) {
    const value = element.getAttribute(name);
    if (value && !value.startsWith('#')) urls.push(new URL(value, document.baseURI).href);
  }
});
document.querySelectorAll('use').forEach(element => {
  const value = element.getAttribute('xlink:href') || element.getAttribute('href');
  if (value && !value.startsWith('#')) urls.push(value);
});
return urls;
"""


def axe_source() -> Path:
    """axe-core's browser bundle, from the pip package axe-selenium-python (or a node_modules copy)."""
    candidates = [Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"]
    try:
        import axe_selenium_python

        candidates.append(Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js")
    except ImportError:
        pass
    found = [path for path in candidates if path.is_file()]
    if not found:
        pytest.skip("needs axe-core: pip install axe-selenium-python (or npm install axe-core)")
    return found[0]


@pytest.fixture(scope="module")
def built_site(dvc_project):
    site_dir = dvc_project.root / "site"
    assert "Running stage 'report'" in dvc_project.first_output
    assert (site_dir / "index.html").is_file(), dvc_project.first_output[-3000:]
    return site_dir


@pytest.fixture(scope="module")
def browser():
    with chromium(OFFLINE, WINDOW, capabilities={"goog:loggingPrefs": {"browser": "ALL"}}) as driver:
        yield driver


def open_page(driver, path: Path) -> None:
    """Load a page from disk; fail on any console message of level error or a non-local URL."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"{path}: console errors {errors}"
    outside = [url for url in driver.execute_script(PAGE_URLS) if not url.startswith(("file://", "data:"))]
    assert not outside, f"{path}: requests or links leaving the machine: {outside}"


def expected_names(root: Path, submissions: list[str], baselines: set[str]) -> dict[str, str]:
    from tests.helpers import SITE_KEY

    return pseudonyms.display_names(submissions, {}, SITE_KEY.encode(), baselines)


@pytest.mark.slow
def test_report_stage_is_incremental(dvc_project, built_site):
    from tests.helpers import run

    output = run(["dvc", "repro", "report"], dvc_project.root, dvc_project.env)
    assert "Stage 'report' didn't change, skipping" in output, output[-2000:]


@pytest.mark.slow
def test_rendered_site_holds_no_hidden_score_id_email_or_key(dvc_project, built_site):
    from tests.helpers import SITE_KEY

    text = "\n".join(path.read_text(errors="replace") for path in built_site.rglob("*")
                     if path.suffix in (".html", ".svg", ".css", ".csv", ".json", ".txt"))
    assert not [path for path in built_site.rglob("*") if path.name == "grades.csv"]
    for key_name in ("private_accuracy", "test_accuracy", SITE_KEY, "grades.csv"):
        assert key_name not in text, key_name
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w", text)  # no e-mail address (CSS has its @media)
    results = [json.loads(path.read_text()) for track in ("mnist", "notmnist")
               for path in (dvc_project.root / "results" / track).glob("*.json")]
    # A hidden figure that rounds to the same number as some public one cannot be told apart from it.
    public = {f"{result[name]:.4f}" for result in results for name in ("public_accuracy", "validation_accuracy")
              if result.get(name) is not None}
    for log in (dvc_project.root / "results").glob("*/*.log"):  # the student's own (sandbox) output
        public |= set(re.findall(r"\d\.\d{4}", log.read_text(errors="replace")))
    for result in results:
        for name in ("private_accuracy", "test_accuracy"):
            value = result.get(name)
            if value is None or f"{value:.4f}" in public:
                continue
            for shown in {f"{value:.4f}", repr(value)} - ({repr(value)} if len(repr(value)) < 6 else set()):
                # As a whole number only (not the 0.4 inside 0.4133); short reprs are axis-tick lookalikes.
                assert not re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", text), (result["submission"], name)
    for folder, student_id in STUDENTS.items():
        assert not re.search(rf"(?<![\w-]){folder}(?![\w-])", text) and student_id not in text, folder


@pytest.mark.slow
@needs_chromium
def test_every_page_loads_offline_and_the_leaderboard_is_in_rank_order(dvc_project, built_site, browser):
    board = pd.read_csv(dvc_project.root / "results" / "leaderboard.csv")
    baselines = set(board.loc[board["baseline"], "submission"])
    names = expected_names(dvc_project.root, sorted(set(board["submission"])), baselines)

    open_page(browser, built_site / "index.html")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight") + 100)
    browser.save_screenshot(str(ARTIFACTS / "site_leaderboard.png"))
    for track, rows in board.groupby("track"):
        shown = browser.execute_script(
            "return [...document.querySelectorAll(`table.leaderboard[data-track='${arguments[0]}'] tr.entry`)]"
            ".map(row => [row.querySelector('.rank').innerText.trim(), row.querySelector('.display-name').innerText.trim()])",
            track)
        ok = rows[rows["status"] == "ok"]
        assert shown[:len(ok)] == [[str(int(rank)), names[submission]] for rank, submission in zip(ok["rank"], ok["submission"])]
        assert sorted(name for _, name in shown[len(ok):]) == sorted(names[s] for s in rows[rows["status"] != "ok"]["submission"])
        # The history chart: a leader point per grade run; per submission, a point at its first and
        # last grade run and at each run that changed its score (flat steps between).
        past = history.load(dvc_project.root / "results", track)
        marked = 0  # from the points (a submission's scored states, where each began and at its last run)
        for _, points in past.points[past.points["public_accuracy"].notna()].groupby("submission"):
            scores = points.sort_values("time")["public_accuracy"].tolist()
            marked += sum(1 for i, score in enumerate(scores) if i in (0, len(scores) - 1) or score != scores[i - 1])
        charted = int((past.runs["ranked"] > 0).sum())
        if charted < 2:  # a sentence instead of a chart of one column of dots
            assert browser.execute_script(
                "return document.querySelector(`p.history-pending[data-track='${arguments[0]}']`) !== null", track)
            continue
        leader_points, submission_points = browser.execute_script(
            "const figure = document.querySelector(`figure.history[data-track='${arguments[0]}']`);"
            "const svg = figure.querySelector('svg.wide');"
            "return [svg.querySelectorAll('g[id$=-leader] use').length, svg.querySelectorAll('g[id$=-history-submissions] use').length]",
            track)
        assert leader_points == charted
        assert submission_points == marked

    links = pd.read_csv(dvc_project.root / "results" / site.LINKS_FILE)
    assert sorted(links["submission"]) == sorted(set(board["submission"]))
    for submission, page in zip(links["submission"], links["page"]):
        open_page(browser, built_site / page)
        if submission == "student_alice":
            sizes = browser.execute_script(
                "return [...document.querySelectorAll('img.plot')].map(image => [image.complete, image.naturalWidth])")
            assert len(sizes) == 6 and all(complete and width > 0 for complete, width in sizes), sizes  # 3 per track
            assert names["student_alice"] in browser.title
            browser.set_window_size(1280, 1600)
            browser.save_screenshot(str(ARTIFACTS / "site_feedback_page.png"))


@pytest.mark.slow
@needs_chromium
def test_leaderboard_page_has_no_serious_accessibility_violations(built_site, browser):
    browser.get((built_site / "index.html").resolve().as_uri())
    browser.execute_script(axe_source().read_text())
    browser.set_script_timeout(60)
    report = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(result => done(result.violations)).catch(error => done([{id: 'axe failed', impact: 'critical', help: String(error)}]));")
    (ARTIFACTS / "site_axe_violations.json").write_text(json.dumps(report, indent=2))
    serious = [(violation["id"], violation["help"]) for violation in report
               if violation.get("impact") in ("serious", "critical")]
    assert not serious, serious


def _report(root: Path, env: dict):
    import subprocess
    import sys

    from tests.helpers import REPO

    return subprocess.run([sys.executable, "-m", "pipeline", "report"], cwd=root, capture_output=True, text=True,
                          timeout=300, env={**env, "PYTHONPATH": str(REPO)})


def test_the_first_report_writes_feedback_pages_and_the_next_reuses_the_key(tmp_path):
    """`python -m pipeline report` as `dvc repro` runs it in a fresh clone: no GRADEBENCH_SITE_KEY,
    no .gradebench/. The first run creates the key (0600) and writes every feedback page; the
    second reuses it, so every page keeps its address. A short key is a configuration error (2)."""
    import os
    import shutil

    from tests.helpers import REPO

    make_results(tmp_path)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    env = {name: value for name, value in os.environ.items() if name != site_key.SITE_KEY_ENV}
    first = _report(tmp_path, env)
    assert first.returncode == 0, first.stderr[-3000:]
    key_file = tmp_path / ".gradebench" / "site-key"
    assert f"site key: created {Paths().site_key} (mode 0600, git-ignored). Keep this file" in first.stdout
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) >= 32
    links = pd.read_csv(tmp_path / "results" / site.LINKS_FILE)
    assert sorted(links["submission"]) == ["alice", "bob", "carol", "small_cnn"]
    assert all((tmp_path / "site" / page).is_file() for page in links["page"])
    assert "4 feedback page(s)" in first.stdout

    second = _report(tmp_path, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"site key: {Paths().site_key} (reused)" in second.stdout
    assert pd.read_csv(tmp_path / "results" / site.LINKS_FILE)["page"].tolist() == links["page"].tolist()

    short = _report(tmp_path, {**env, site_key.SITE_KEY_ENV: "tooshort"})
    assert short.returncode == 2 and "Traceback" not in short.stderr
    assert short.stderr.startswith(f"error: {site_key.SITE_KEY_ENV} holds a site key of 8 characters; a key must be at "
                                   f"least 16 random characters"), short.stderr
    assert "secrets.token_urlsafe(32)" in short.stderr


def test_the_site_shows_the_display_names_the_grade_stage_read(tmp_path):
    """The report reads names from results/names/ (grading/display_names.py), not submissions/;
    a submission missing there still has its meta.yaml read."""
    results, submissions = make_results(tmp_path)
    site_dir = tmp_path / "site"
    site.build_site(results, submissions, site_dir, ["mnist"], False, False, KEY,
                    display_names={"alice": "Lone Wolf", "carol": None, "small_cnn": None})
    index = (site_dir / "index.html").read_text()
    assert "Lone Wolf" in index and "Night Owl" not in index
    shutil.rmtree(submissions / "alice")  # nothing of submissions/ is needed for a name given
    site.build_site(results, submissions, site_dir, ["mnist"], False, False, KEY,
                    display_names={"alice": "Lone Wolf"})
    assert "Lone Wolf" in (site_dir / "index.html").read_text()
