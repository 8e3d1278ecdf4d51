"""The course site's Pareto charts as inline SVG: accuracy against size (parameters) and against
compute (MFLOPs per image), the front told apart by shape (a star) as well as by colour, names
placed where they fit without touching a mark, a line or each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from pipeline.reporting import chart_ticks, site_charts
from pipeline.reporting.site_charts import FONT_PT, GREY, RED, Variant

LABEL_GAP_PT = 6  # between a point and its name (more than a marker's half-width)


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
    decimal_ticks: bool = False  # 0.01, 0.1, 1 rather than 10k, 1M


SIZE = ParetoAxis("pareto", "accuracy against size", "parameters, trainable or not (log scale)", "smaller",
                  "parameters (trainable or not)")
# MFLOPs span 0.01 (a linear model) to hundreds (a CNN): decimals read better than 10m.
COMPUTE = ParetoAxis("compute", "accuracy against compute", "MFLOPs per image (log scale)", "cheaper",
                     "MFLOPs per image", decimal_ticks=True)

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
    with site_charts.style():
        figure = site_charts.figure(variant)
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
            return site_charts.svg(figure, f"{kind.salt}-{track_name}", f"{track_name}: {empty}", variant)
        sizes = np.array([point.size for point in points], dtype=float)
        accuracy = np.array([point.accuracy for point in points], dtype=float)
        axis.set_xscale("log")
        axis.set_xlim(*site_charts.limits(sizes, log=True, pad=0.08))
        chart_ticks.plain_log_ticks(axis.xaxis, chart_ticks.decimals if kind.decimal_ticks else chart_ticks.counts)
        axis.set_ylim(*site_charts.limits(accuracy, pad=0.1))
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
    return site_charts.svg(figure, f"{kind.salt}-{track_name}", f"{track_name}: {metric_label} against {kind.description}; the "
                f"Pareto front drawn as red stars joined by a line, other submissions as grey circles, baselines "
                f"hollow; {shown} of {len(points)} points named", variant)

