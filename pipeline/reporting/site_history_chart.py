"""The leaderboard over time as inline SVG (`history_chart`), and a student's own line on top of
the track's chart (`own_line`).

A student's own line on their feedback page is not a chart of its own (a matplotlib drawing per
page would cost minutes at 1,000 students, and a copy of the chart per page 50 KB each): the
track's chart is drawn once, published as a file, and `own_line` shows it under a few SVG
elements for the student's line, placed with the chart's data-to-SVG mapping. That mapping is
known before the chart is drawn (`frame`: the axes' box and limits are set, not measured), so the
pages are rendered while the chart worker draws the chart.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from pipeline.reporting import site_charts
from pipeline.reporting.site_charts import BLUE, FONT_PT, GREY, RED, WIDE, Chart, LinearMap, Variant, id_prefix
from pipeline.reporting.site_history import HistoryView

def run_label(time: str) -> str:
    try:
        stamp = datetime.datetime.fromisoformat(time)  # as history.record writes it
    except ValueError:  # a hand-edited history: whatever pandas can read
        import pandas as pd

        stamp = pd.Timestamp(time)
    return f"{stamp.strftime('%d %b')}\n{stamp.strftime('%H:%M')}"


def dodged(run_index: np.ndarray, accuracy: np.ndarray, spread: float = 0.3) -> np.ndarray:
    """x positions that draw tied scores of one run side by side rather than as one dot (a large
    class has thousands of ties): each point's place among the points of its run and score."""
    keys = list(zip(run_index.tolist(), accuracy.tolist()))
    sizes, seen = Counter(keys), Counter()
    position, count = np.empty(len(keys)), np.empty(len(keys))
    for index, key in enumerate(keys):
        position[index], count[index] = seen[key], sizes[key]
        seen[key] += 1
    step = np.minimum(0.08, spread / np.maximum(count - 1, 1))
    return run_index.astype(float) + (position - (count - 1) / 2) * step


def line_points(view: HistoryView, names: dict[str, str]) -> list[tuple[str, str, int, float]]:
    """Every submission's line as the chart draws it, (submission, name, run, public accuracy) per
    point, in display-name order: the order of points must not reveal how the real ids sort."""
    rows = [(submission, names.get(submission, ""), run, accuracy)
            for submission, line in view.lines.items() for run, accuracy in line]
    return sorted(rows, key=lambda row: (row[1], row[0], row[2]))


# The axes' box in the figure, in inches from its edges: set, so that `frame` knows it undrawn.
LEFT_IN, RIGHT_IN, BOTTOM_IN, TOP_IN = 0.7, 0.2, 1.05, 0.35
X_MARGIN = 0.35  # runs, either side of the first and last


def _salt(track_name: str, everyone: bool) -> str:
    return f"history-{track_name}-{'all' if everyone else 'base'}"


def _accuracy_limits(view: HistoryView) -> tuple[float, float]:
    shown = [accuracy for line in view.lines.values() for _, accuracy in line] + list(view.leader_accuracy)
    return site_charts.limits(np.array(shown, float), pad=0.12)


def frame(track_name: str, view: HistoryView, variant: Variant, everyone: bool = False) -> Optional[Chart]:
    """The chart `history_chart` draws, without its SVG: its variant, ids and data-to-SVG mapping,
    computed from the axes' set box and limits (no matplotlib). None before two runs, as the chart."""
    if len(view.times) < 2:
        return None
    width, height = variant.width_in * 72, variant.height_in * 72  # 72 dpi: display units are the SVG's
    x_low, x_high = -X_MARGIN, len(view.times) - 1 + X_MARGIN
    y_low, y_high = _accuracy_limits(view)
    left, right = LEFT_IN * 72, width - RIGHT_IN * 72
    bottom, top = BOTTOM_IN * 72, height - TOP_IN * 72
    x_scale, y_scale = (right - left) / (x_high - x_low), (top - bottom) / (y_high - y_low)
    to_svg = LinearMap(left - x_low * x_scale, x_scale, bottom - y_low * y_scale, y_scale, height)
    return Chart(svg="", to_svg=to_svg, variant=variant, id_prefix=id_prefix(_salt(track_name, everyone), variant))


def history_chart(track_name: str, view: HistoryView, names: dict[str, str], variant: Variant,
                  everyone: bool = True) -> Optional[Chart]:
    """Public accuracy per grade run (x: the runs, equally spaced, and nothing more): the leader in
    red and, with `everyone`, each submission's line in grey (ties side by side), else the class
    median (a feedback page's base, to which `own_line` adds the student). None before two runs."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    times = view.times
    drawn = frame(track_name, view, variant, everyone)
    if drawn is None:
        return None
    marked = line_points(view, names)
    with site_charts.style():
        figure = site_charts.figure(variant)
        figure.subplots_adjust(left=LEFT_IN / variant.width_in, right=1 - RIGHT_IN / variant.width_in,
                               bottom=BOTTOM_IN / variant.height_in, top=1 - TOP_IN / variant.height_in)
        axis = figure.subplots()
        axis.set_xlim(-X_MARGIN, len(times) - 1 + X_MARGIN)
        axis.set_ylim(*_accuracy_limits(view))
        ticks = MaxNLocator(nbins=6 if variant is WIDE else 3, integer=True).tick_values(0, len(times) - 1)
        ticks = [int(tick) for tick in ticks if 0 <= tick <= len(times) - 1]
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.set_xticklabels([run_label(times[tick]) for tick in ticks])
        if everyone:
            accuracy = np.array([row[3] for row in marked], float)
            x = dodged(np.array([row[2] for row in marked], int), accuracy)
            submissions = np.array([row[0] for row in marked], object)
            breaks = np.flatnonzero(submissions[1:] != submissions[:-1]) + 1
            # One artist for every line, broken by NaN: an artist each cost a second at 1,000 students.
            line, = axis.plot(np.insert(x, breaks, np.nan), np.insert(accuracy, breaks, np.nan),
                              marker="o", markersize=3.5, linewidth=1, color=GREY, drawstyle="steps-post",
                              label="each submission")
            line.set_gid("history-submissions")
        else:
            median = [(run, value) for run, value in enumerate(view.median_accuracy) if value is not None]
            line, = axis.plot([run for run, _ in median], [value for _, value in median], linestyle="--", marker="o",
                              markersize=3, linewidth=1.2, color=GREY, label="class median")
            line.set_gid("history-median")
        line, = axis.plot(range(len(times)), view.leader_accuracy, marker="o", markersize=5, linewidth=2,
                          color=RED, drawstyle="steps-post", label="leader (rank 1)")
        line.set_gid("leader")
        axis.set_xlabel("grade run (UTC)")
        axis.set_ylabel("public accuracy")
        axis.set_title(f"{track_name}: the leaderboard over time")
        axis.grid(alpha=0.6, linewidth=0.6)
        axis.legend(loc="lower right", frameon=True, framealpha=0.9)
        what = "each submission in grey" if everyone else "the class median dashed in grey"
        svg = site_charts.svg(figure, _salt(track_name, everyone), f"{track_name}: public accuracy at each of "
                              f"{len(times)} grade runs; the leader in red, {what}", variant)
    return Chart(svg=svg, to_svg=drawn.to_svg, variant=variant, id_prefix=drawn.id_prefix)


def own_line(chart: Chart, href: str, runs: list[tuple[int, float]], name: str, label: str) -> str:
    """An inline SVG showing `chart` (history_chart with everyone=False, published as its own file at
    `href`: one copy for every page, not a copy per page) with one student's line on top, in the
    same coordinates: thick, blue, its points marked, its last point labelled with the name.
    `runs`: the points of the student's line (site_history: (run index, accuracy) where it changed,
    and its ends), in run order."""
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
