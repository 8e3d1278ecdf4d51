"""The course site's charts as inline SVG: accuracy against size and against compute (Pareto) and the
leaderboard over time.

Each chart is drawn twice, for the width it is shown at: `WIDE` (a desktop column, 720 px) and
`NARROW` (a phone, about 330 px); the page's CSS shows one of them, so text is drawn at 12 px
and stays at least 11 px at both sizes. Marks have at least 3:1 contrast on white, and the
Pareto front is told apart by shape (a star) as well as by colour.

A student's own line on their feedback page is not a chart of its own (a matplotlib drawing per
page would cost minutes at 1,000 students, and a copy of the chart per page 50 KB each): the
track's chart is drawn once, published as a file, and `own_line` shows it under a few SVG
elements for the student's line, placed with the chart's data-to-SVG mapping.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Callable, Optional
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

FONT_PT = 9  # 12 px at 1:1; the narrowest scale used (360 px screens) keeps it above 11 px
GREY = "#6b7280"  # 4.8:1 on white
RED = "#b91c1c"  # 6.5:1
BLUE = "#1d4ed8"  # 6.7:1
LABEL_GAP_PT = 6  # between a point and its name (more than a marker's half-width)


@dataclass(frozen=True)
class Variant:
    name: str
    width_in: float
    height_in: float
    legend_columns: int


WIDE = Variant("wide", 7.5, 4.6, 2)
NARROW = Variant("narrow", 3.4, 4.4, 1)
VARIANTS = (WIDE, NARROW)


@dataclass
class Chart:
    """An SVG and, for overlays, the mapping from data coordinates to the SVG's own."""

    svg: str
    to_svg: Optional[Callable[[float, float], tuple[float, float]]] = None
    variant: Variant = WIDE
    id_prefix: str = ""  # of every id in the SVG


@dataclass
class ParetoPoint:
    name: str
    size: float  # the x axis: parameters, or MFLOPs per image (ParetoAxis)
    accuracy: float
    front: bool
    baseline: bool


@dataclass(frozen=True)
class ParetoAxis:
    """What a Pareto chart puts on x: its words, and its id (salt) on the page."""

    salt: str
    title: str
    x_label: str
    better: str  # "no one is both more accurate and <better>"
    description: str  # for screen readers: "<metric> against <description>"
    plain_ticks: bool = False  # 0.01, 0.1, 1 rather than powers of ten


SIZE = ParetoAxis("pareto", "accuracy against size", "parameters, trainable or not (log scale)", "smaller",
                  "parameters (trainable or not)")
# MFLOPs span 0.01 (a linear model) to hundreds (a CNN): plain decimals read better than 10^-2.
COMPUTE = ParetoAxis("compute", "accuracy against compute", "MFLOPs per image (log scale)", "cheaper",
                     "MFLOPs per image", plain_ticks=True)


def _svg(figure, salt: str, label: str, variant: Variant) -> str:
    """A matplotlib figure as inline SVG: deterministic ids (unchanged inputs give the same bytes),
    text kept as text, labelled for screen readers, marked with its variant for the CSS."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"{salt}-{variant.name}", "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # Every id made unique to this chart (a page holds several, each in two variants): matplotlib
    # numbers its own ids from 1 in every figure, and ours ("leader", ...) repeat per variant.
    prefix = id_prefix(salt, variant)
    text = re.sub(r'\bid="', f'id="{prefix}', text)
    text = re.sub(r'(href="#|url\(#)', lambda match: match.group(1) + prefix, text)
    return text.replace("<svg", f'<svg class="chart {variant.name}" role="img" aria-label={quoteattr(label)}', 1)


def id_prefix(salt: str, variant: Variant) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{salt}-{variant.name}") + "-"


def _figure(variant: Variant):
    """A figure at 72 dpi, so that display coordinates are the SVG's points."""
    from matplotlib.figure import Figure

    return Figure(figsize=(variant.width_in, variant.height_in), dpi=72)


def _style():
    import matplotlib

    return matplotlib.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1, "legend.fontsize": FONT_PT,
                                  "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT,
                                  "axes.labelsize": FONT_PT, "axes.edgecolor": GREY, "grid.color": "#d1d5db"})


def _text_size(text: str) -> tuple[float, float]:
    """Width and height of a label in points, measured without drawing the figure."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    width, height, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=FONT_PT), ismath=False)
    return width * 1.08, height * 1.15  # the browser's rendering of the same font, with a little room


def _overlaps(box, boxes) -> bool:
    left, bottom, right, top = box
    return any(left < other[2] and other[0] < right and bottom < other[3] and other[1] < top for other in boxes)


def place_labels(axis, points: list[tuple[float, float, str]], obstacles: list) -> list[tuple[float, float, str, str]]:
    """Names beside points (display coordinates), in the order given (most important first): each
    tries four positions around its point and is dropped if none fits inside the axes without
    touching an earlier name, a marker or a line segment. Two names never merge, none is clipped."""
    frame = axis.get_window_extent()
    taken = list(obstacles)
    placed = []
    for x, y, name in points:
        width, height = _text_size(name)
        for dx, dy, align in ((LABEL_GAP_PT, 1, "left"), (LABEL_GAP_PT, -height - 1, "left"),
                              (-LABEL_GAP_PT - width, 1, "right"), (-LABEL_GAP_PT - width, -height - 1, "right")):
            box = (x + dx, y + dy, x + dx + width, y + dy + height)
            inside = frame.x0 + 2 <= box[0] and box[2] <= frame.x1 - 2 and frame.y0 + 2 <= box[1] and box[3] <= frame.y1 - 2
            if inside and not _overlaps(box, taken):
                taken.append(box)
                placed.append((box[0] if align == "left" else box[2], box[1], name, align))
                break
    return placed


def _limits(values, log: bool = False, pad: float = 0.06) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    if log:
        low, high = np.log10(low), np.log10(high)
    span = (high - low) or max(abs(high) * 0.1, 0.01)
    low, high = low - span * pad, high + span * pad
    return (10 ** low, 10 ** high) if log else (low, high)


def _decimal_ticks(**options):
    """matplotlib's own choice of which log ticks to label, written as decimals (0.01, not 1e-02)."""
    from matplotlib.ticker import LogFormatter

    class Decimal(LogFormatter):
        def __call__(self, value, pos=None):
            return f"{value:g}" if super().__call__(value, pos) else ""

    return Decimal(**options)


def pareto_chart(track_name: str, points: list[ParetoPoint], to_label: list[int], metric_label: str,
                 variant: Variant, kind: ParetoAxis = SIZE, empty: Optional[str] = None) -> str:
    """Accuracy against `kind`'s x (parameters or MFLOPs per image, log scale): the front as stars joined
    by a step line, the others as circles; baselines hollow. Names where they fit (`to_label`: which
    may be named). `empty`: what an empty chart says (default: no graded submissions yet)."""
    front_label = f"Pareto front: no one is both more accurate and {kind.better}"
    if variant.legend_columns == 1:
        front_label = f"Pareto front: no one is both\nmore accurate and {kind.better}"
    groups = [(on_front, baseline, label) for on_front, baseline, label in (
        (True, False, front_label), (False, False, "not on the front"), (True, True, "baseline on the front"),
        (False, True, "baseline (course reference model)"))
        if any(point.front == on_front and point.baseline == baseline for point in points)]
    columns = min(variant.legend_columns, max(1, len(groups)))
    rows = [max(label.count("\n") + 1 for _, _, label in groups[start:start + columns])
            for start in range(0, len(groups), columns)]
    with _style():
        figure = _figure(variant)
        # Below the axes: the tick labels, the axis label, then the legend's lines.
        bottom = (0.62 + 0.19 * sum(rows)) / variant.height_in
        figure.subplots_adjust(left=0.7 / variant.width_in, right=1 - 0.15 / variant.width_in, bottom=bottom,
                               top=1 - 0.35 / variant.height_in)
        axis = figure.subplots()
        axis.set_title(f"{track_name}: {kind.title}")
        axis.set_xlabel(kind.x_label)
        axis.set_ylabel(metric_label)
        axis.grid(alpha=0.6, linewidth=0.6)
        if not points:
            empty = empty or "no graded submissions yet"
            axis.text(0.5, 0.5, empty, ha="center", va="center", transform=axis.transAxes)
            return _svg(figure, f"{kind.salt}-{track_name}", f"{track_name}: {empty}", variant)
        sizes = np.array([point.size for point in points], dtype=float)
        accuracy = np.array([point.accuracy for point in points], dtype=float)
        axis.set_xscale("log")
        axis.set_xlim(*_limits(sizes, log=True, pad=0.08))
        if kind.plain_ticks:
            axis.xaxis.set_major_formatter(_decimal_ticks())
            axis.xaxis.set_minor_formatter(_decimal_ticks(labelOnlyBase=False))
        axis.set_ylim(*_limits(accuracy, pad=0.1))
        front = sorted((point for point in points if point.front), key=lambda point: point.size)
        line, = axis.step([point.size for point in front], [point.accuracy for point in front], where="post",
                          color=RED, linewidth=1.2, zorder=2)
        line.set_gid("pareto-line")
        handles = []
        for on_front, baseline, label in groups:
            chosen = [point for point in points if point.front == on_front and point.baseline == baseline]
            colour = RED if on_front else GREY
            drawn = axis.scatter([point.size for point in chosen], [point.accuracy for point in chosen],
                                 marker="*" if on_front else "o", s=110 if on_front else 30,
                                 facecolors="white" if baseline else colour, edgecolors=colour,
                                 linewidths=1.2, label=label, zorder=3)
            drawn.set_gid(f"points-{'front' if on_front else 'other'}{'-baseline' if baseline else ''}")
            handles.append(drawn)
        figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.3 / variant.width_in, 0.01),
                      ncol=columns, frameon=False, handletextpad=0.3, columnspacing=1.2, borderaxespad=0.2)
        display = axis.transData.transform(np.column_stack([sizes, accuracy]))
        # Markers and the front's segments are obstacles for names.
        obstacles = [(x - 5, y - 5, x + 5, y + 5) for x, y in display]
        front_display = axis.transData.transform([(point.size, point.accuracy) for point in front]) if front else []
        for (x0, y0), (x1, y1) in zip(front_display[:-1], front_display[1:]):
            obstacles += [(min(x0, x1), y0 - 1, max(x0, x1), y0 + 1), (x1 - 1, min(y0, y1), x1 + 1, max(y0, y1))]
        order = sorted(to_label, key=lambda i: (not points[i].front, not points[i].baseline, -points[i].accuracy))
        placed = place_labels(axis, [(display[i][0], display[i][1], points[i].name) for i in order], obstacles)
        to_data = axis.transData.inverted()
        for number, (x, y, name, align) in enumerate(placed):
            data_x, data_y = to_data.transform((x, y))
            text = axis.text(data_x, data_y, name, ha=align, va="bottom", color="#111827", zorder=4)
            text.set_gid(f"point-label-{number}")
        shown = len(placed)
    return _svg(figure, f"{kind.salt}-{track_name}", f"{track_name}: {metric_label} against {kind.description}; the "
                f"Pareto front drawn as red stars joined by a line, other submissions as grey circles, baselines "
                f"hollow; {shown} of {len(points)} points named", variant)


def run_label(time: str) -> str:
    stamp = pd.Timestamp(time)
    return f"{stamp.strftime('%d %b')}\n{stamp.strftime('%H:%M')}"


def dodged(run_index: np.ndarray, accuracy: np.ndarray, spread: float = 0.3) -> np.ndarray:
    """x positions that draw tied scores of one run side by side rather than as one dot (vectorised:
    a large class has thousands of ties)."""
    frame = pd.DataFrame({"run": run_index, "accuracy": accuracy})
    groups = frame.groupby(["run", "accuracy"], sort=False)
    position = groups.cumcount().to_numpy(float)
    count = groups["run"].transform("size").to_numpy(float)
    step = np.minimum(0.08, spread / np.maximum(count - 1, 1))
    return run_index.astype(float) + (position - (count - 1) / 2) * step


def history_chart(track_name: str, frame: pd.DataFrame, names: dict[str, str], variant: Variant,
                  everyone: bool = True) -> Optional[Chart]:
    """Public accuracy per grade run (x: the runs, equally spaced, and nothing more): the leader in
    red and, with `everyone`, each submission's line in grey (ties side by side), else the class
    median (a feedback page's base, to which `own_line` adds the student). None before two runs."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    scored = frame[frame["public_accuracy"].notna()]
    times = sorted(scored["time"].unique())
    if len(times) < 2:
        return None
    run_of = {time: index for index, time in enumerate(times)}
    scored = scored.assign(run=scored["time"].map(run_of).astype(int), name=scored["submission"].map(names).fillna(""))
    with _style():
        figure = _figure(variant)
        figure.subplots_adjust(left=0.7 / variant.width_in, right=1 - 0.2 / variant.width_in,
                               bottom=1.05 / variant.height_in, top=1 - 0.35 / variant.height_in)
        axis = figure.subplots()
        axis.set_xlim(-0.35, len(times) - 1 + 0.35)
        axis.set_ylim(*_limits(scored["public_accuracy"].to_numpy(float), pad=0.12))
        ticks = MaxNLocator(nbins=6 if variant is WIDE else 3, integer=True).tick_values(0, len(times) - 1)
        ticks = [int(tick) for tick in ticks if 0 <= tick <= len(times) - 1]
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.set_xticklabels([run_label(times[tick]) for tick in ticks])
        if everyone:
            # In display-name order: the order of points must not reveal how the real ids sort.
            scored = scored.sort_values(["name", "submission", "run"], kind="stable").reset_index(drop=True)
            marked = scored[changes_and_ends(scored["submission"].to_numpy(), scored["public_accuracy"].to_numpy(float))]
            marked = marked.assign(x=dodged(marked["run"].to_numpy(), marked["public_accuracy"].to_numpy(float))[:])
            submissions = marked["submission"].to_numpy()
            breaks = np.flatnonzero(submissions[1:] != submissions[:-1]) + 1
            # One artist for every line, broken by NaN: an artist each cost a second at 1,000 students.
            line, = axis.plot(np.insert(marked["x"].to_numpy(float), breaks, np.nan),
                              np.insert(marked["public_accuracy"].to_numpy(float), breaks, np.nan),
                              marker="o", markersize=3.5, linewidth=1, color=GREY, drawstyle="steps-post",
                              label="each submission")
            line.set_gid("history-submissions")
        else:
            ranked = scored[scored["rank"].notna()]
            median = ranked.groupby("run")["public_accuracy"].median()
            line, = axis.plot(median.index, median.to_numpy(float), linestyle="--", marker="o", markersize=3,
                              linewidth=1.2, color=GREY, label="class median")
            line.set_gid("history-median")
        leader = scored[scored["rank"] == 1].sort_values("run")
        line, = axis.plot(leader["run"], leader["public_accuracy"], marker="o", markersize=5, linewidth=2,
                          color=RED, drawstyle="steps-post", label="leader (rank 1)")
        line.set_gid("leader")
        axis.set_xlabel("grade run (UTC)")
        axis.set_ylabel("public accuracy")
        axis.set_title(f"{track_name}: the leaderboard over time")
        axis.grid(alpha=0.6, linewidth=0.6)
        axis.legend(loc="lower right", frameon=True, framealpha=0.9)
        # Both axes are linear: the mapping is a scale and an offset, taken from the axes once.
        (x0, y0), (x1, y1) = axis.transData.transform([(0.0, 0.0), (1.0, 1.0)])
        height = variant.height_in * 72

        def to_svg(x: float, y: float) -> tuple[float, float]:
            return float(x0 + x * (x1 - x0)), float(height - (y0 + y * (y1 - y0)))

        what = "each submission in grey" if everyone else "the class median dashed in grey"
        salt = f"history-{track_name}-{'all' if everyone else 'base'}"
        svg = _svg(figure, salt,
                   f"{track_name}: public accuracy at each of {len(times)} grade runs; the leader in red, {what}",
                   variant)
    return Chart(svg=svg, to_svg=to_svg, variant=variant, id_prefix=id_prefix(salt, variant))


def own_line(chart: Chart, href: str, runs: list[tuple[int, float]], name: str, label: str) -> str:
    """An inline SVG showing `chart` (history_chart with everyone=False, published as its own file at
    `href`: one copy for every page, not a copy per page) with one student's line on top, in the
    same coordinates: thick, blue, its points marked, its last point labelled with the name.
    `runs`: (run index, accuracy), in run order."""
    width, height = chart.variant.width_in * 72, chart.variant.height_in * 72
    group = ""
    if runs:
        points = [chart.to_svg(run, accuracy) for run, accuracy in runs]
        path = [f"M{points[0][0]:.2f} {points[0][1]:.2f}"]
        for x, y in points[1:]:
            path.append(f"H{x:.2f}V{y:.2f}")  # steps, as the other lines
        dots = "".join(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3.5" fill="{BLUE}"/>' for x, y in points)
        last_x, last_y = points[-1]
        # Above the last point when there is room below the title, else below it.
        text_y = last_y - 7 if last_y - FONT_PT - 7 > 0.35 * 72 else last_y + FONT_PT + 5
        group = (f'<g id="{chart.id_prefix}own-line" class="own-line"><path d="{"".join(path)}" fill="none" '
                 f'stroke="{BLUE}" stroke-width="3"/>{dots}<text x="{last_x:.2f}" y="{text_y:.2f}" text-anchor="end" '
                 f'fill="{BLUE}" style="font: bold {FONT_PT}px \'DejaVu Sans\', sans-serif">{escape(name)} (you)</text></g>')
    return (f'<svg class="chart {chart.variant.name}" role="img" aria-label={quoteattr(label)} width="{width:g}pt" '
            f'height="{height:g}pt" viewBox="0 0 {width:g} {height:g}" xmlns="http://www.w3.org/2000/svg">'
            f'<image href={quoteattr(href)} x="0" y="0" width="{width:g}" height="{height:g}"/>{group}</svg>')


def changes_and_ends(submissions, accuracy):
    """Which rows of a history sorted by submission and time the chart marks: each submission's
    first and last grade run and every run that changed its accuracy. Every grade run records every
    submission, so marking them all grows by N points per run (10,000 at 1,000 students after ten
    runs: a 1.5 MB page and a second of every report); the steps between are the same line."""
    if len(submissions) == 0:
        return np.zeros(0, dtype=bool)
    first = np.r_[True, submissions[1:] != submissions[:-1]]
    last = np.r_[submissions[1:] != submissions[:-1], True]
    changed = np.r_[True, accuracy[1:] != accuracy[:-1]]
    return first | last | changed
