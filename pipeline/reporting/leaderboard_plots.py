"""The leaderboard's plots (results/plots/pareto_<track>.png, pareto_compute_<track>.png): each
track's accuracy against size and against compute, the Pareto front joined up.

Drawn in the chart worker (chart_worker.py) from plain lists (`FrontPoints`, made by
leaderboard.front_points), so that the worker needs neither pandas nor the leaderboard's code:
importing pandas there was a fifth of a second on the report's longest path. Each PNG keeps the
hash of what it shows (leaderboard.pareto_inputs_key), and is drawn only when that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pipeline.reporting import chart_ticks

# The PNG text chunk that holds the hash of what a plot shows.
INPUTS_KEY_CHUNK = "Comment"


@dataclass(frozen=True)
class FrontPlot:
    """One accuracy-against-cost plot: the cost column, the front's column, and its words."""

    cost: str
    front: str
    colour: str
    x_label: str
    title: str
    empty: str
    x_margin: Optional[float] = None  # room for the costliest model's name at the right edge
    tick_words: Callable[[float], str] = chart_ticks.counts


SIZE_PLOT = FrontPlot("total_params", "pareto", "tab:red", "parameters, trainable or not (log scale)",
                      "accuracy vs size", "no graded submissions yet")
COMPUTE_PLOT = FrontPlot("mflops_per_image", "pareto_compute", "tab:blue",
                         "MFLOPs per image, one forward pass (log scale)", "accuracy vs compute",
                         "no counted submissions yet", x_margin=0.12, tick_words=chart_ticks.decimals)


@dataclass(frozen=True)
class FrontPoints:
    """The points of one plot: every ranked submission with a cost, in leaderboard order."""

    names: list[str] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    front: list[bool] = field(default_factory=list)
    labelled: list[int] = field(default_factory=list)  # which points carry their name


def drawn_from(path: Path, key: str) -> bool:
    """Whether the PNG at `path` was drawn from the inputs whose key is `key`."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.info.get(INPUTS_KEY_CHUNK) == key
    except (OSError, ValueError):
        return False


def draw_front(points: FrontPoints, track_name: str, metric: str, path: Path, plot: FrontPlot, key: str) -> bool:
    """Draw the plot into `path` unless it was drawn from these inputs (`key`); return whether it drew."""
    if drawn_from(path, key):
        return False
    from matplotlib.figure import Figure  # the object API: no global pyplot state, no display

    figure = Figure(figsize=(7, 4.5))
    axis = figure.subplots()
    if points.names:
        front = sorted((cost, accuracy) for cost, accuracy, on in zip(points.cost, points.accuracy, points.front) if on)
        axis.scatter(points.cost, points.accuracy, color="tab:gray", label="submission")
        axis.step([cost for cost, _ in front], [accuracy for _, accuracy in front], where="post", color=plot.colour,
                  alpha=0.6)
        axis.scatter([cost for cost, _ in front], [accuracy for _, accuracy in front], color=plot.colour, zorder=3,
                     label="Pareto front")
        for index in points.labelled:
            axis.annotate(points.names[index], (points.cost[index], points.accuracy[index]), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
        axis.set_xscale("log")
        chart_ticks.plain_log_ticks(axis.xaxis, plot.tick_words)
        if plot.x_margin is not None:
            axis.margins(x=plot.x_margin)
        axis.legend(loc="lower right")
    else:
        axis.text(0.5, 0.5, plot.empty, ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel(plot.x_label)
    axis.set_ylabel(metric.replace("_", " "))
    axis.set_title(f"{track_name}: {plot.title}")
    axis.grid(alpha=0.3)
    # Fixed margins, not tight_layout: that measures every label by drawing the figure an extra time
    # (a second of every report at 1,000 students, with the Pareto front's names).
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.92)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, metadata={INPUTS_KEY_CHUNK: key})
    return True
