"""What every chart of the course site shares: the two widths each is drawn at, the style, and
the matplotlib figure as inline SVG.

Each chart is drawn twice, for the width it is shown at: `WIDE` (a desktop column, 720 px) and
`NARROW` (a phone, about 330 px); the page's CSS shows one of them, so text is drawn at 12 px
and stays at least 11 px at both sizes. Marks have at least 3:1 contrast on white. The charts
themselves: site_pareto.py (accuracy against size and compute) and site_history_chart.py (the
leaderboard over time).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import quoteattr

import numpy as np

FONT_PT = 9  # 12 px at 1:1; the narrowest scale used (360 px screens) keeps it above 11 px
GREY = "#6b7280"  # 4.8:1 on white
RED = "#b91c1c"  # 6.5:1
BLUE = "#1d4ed8"  # 6.7:1


@dataclass(frozen=True)
class Variant:
    name: str
    width_in: float
    height_in: float
    legend_columns: int


WIDE = Variant("wide", 7.5, 4.6, 2)
NARROW = Variant("narrow", 3.4, 4.4, 1)
VARIANTS = (WIDE, NARROW)


@dataclass(frozen=True)
class LinearMap:
    """Data coordinates to the SVG's own on linear axes: a scale and an offset per axis. A value,
    not a closure, so that a chart drawn in the chart worker's process (chart_worker.py) comes back
    with it."""

    x0: float
    x_scale: float
    y0: float
    y_scale: float
    height: float  # of the SVG, whose y axis points down

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return float(self.x0 + x * self.x_scale), float(self.height - (self.y0 + y * self.y_scale))


@dataclass
class Chart:
    """An SVG and, for overlays, the mapping from data coordinates to the SVG's own."""

    svg: str
    to_svg: Optional[LinearMap] = None
    variant: Variant = WIDE
    id_prefix: str = ""  # of every id in the SVG


def svg(figure, salt: str, label: str, variant: Variant) -> str:
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


def figure(variant: Variant):
    """A figure at 72 dpi, so that display coordinates are the SVG's points."""
    from matplotlib.figure import Figure

    return Figure(figsize=(variant.width_in, variant.height_in), dpi=72)


def style():
    import matplotlib

    return matplotlib.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1, "legend.fontsize": FONT_PT,
                                  "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT,
                                  "axes.labelsize": FONT_PT, "axes.edgecolor": GREY, "grid.color": "#d1d5db"})


def limits(values, log: bool = False, pad: float = 0.06) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    if log:
        low, high = np.log10(low), np.log10(high)
    span = (high - low) or max(abs(high) * 0.1, 0.01)
    low, high = low - span * pad, high + span * pad
    return (10 ** low, 10 ** high) if log else (low, high)

