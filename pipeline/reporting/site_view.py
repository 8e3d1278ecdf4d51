"""What the site shows of a track, before any HTML: its leaderboard rows (`Entry`, with what the
history adds: versions, rank change), what its numbers mean (`TrackContext`), the rows a feedback
page shows (`window`), and the track's view as the templates read it (`TrackView`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline.reporting.site_history import HistoryView
from pipeline.reporting.site_leaks import Redactor


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
    # Per variant, the frame of the base of each page's chart (site_history_chart.frame: no SVG yet).
    feedback_charts: list = field(default_factory=list)
    uncounted: int = 0  # ranked entries with no FLOPs figure, left out of the compute chart
    rows: list = field(default_factory=list)  # each entry's table row, rendered once


def plain(value):
    """pandas' missing values (NaN, NA) as None, numpy scalars as Python ones, for the templates."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def history_runs(view: HistoryView, names: dict[str, str]) -> list[dict]:
    """Per grade run (newest first), from its summary row: when, the leader and its accuracy, how
    many were ranked."""
    return [{"time": str(run["time"]).replace("T", " ").replace("+00:00", " UTC"),
             "leader": names.get(run["leader"], "") if run["leader"] else "",
             "leader_accuracy": plain(run["leader_accuracy"]), "ranked": int(run["ranked"])}
            for run in reversed(view.runs)]


def track_entries(shown: pd.DataFrame, names: dict[str, str], redact: Redactor, reveal_private: bool,
                  records: dict[str, dict], past: HistoryView, versions: dict[str, list[dict]]) -> list[Entry]:
    """The rows as the site shows them, with what the history adds: versions seen
    (history.versions_by_submission), when the last was handed in, and the rank change since the
    previous grade run."""
    previous = past.previous_ranks
    entries = []
    for row in shown.to_dict("records"):
        submission = row["submission"]
        rank = plain(row["rank"])
        seen = versions.get(submission, [])
        earlier = previous.get(submission)
        entries.append(Entry(
            submission=submission, name=names[submission], baseline=bool(row["baseline"]),
            status=row["status"], error=redact(plain(row["error"])), rank=rank,
            public_accuracy=plain(row["public_accuracy"]), public_accuracy_std=plain(row["public_accuracy_std"]),
            private_accuracy=plain(row.get("private_accuracy")) if reveal_private else None,
            trainable_params=plain(row["trainable_params"]), total_params=plain(row["total_params"]), train_seconds=plain(row["train_seconds"]),
            pareto=bool(row["pareto"]), validation_accuracy=plain(row.get("validation_accuracy")),
            mflops_per_image=plain(row.get("mflops_per_image")),
            images_per_second=plain(row.get("images_per_second")),
            pareto_compute=bool(row.get("pareto_compute", False)),
            last_submission=_when(plain(row.get("submitted_at")) or (seen[0]["first_seen"] if seen else "")),
            versions=len(seen),
            rank_change=(int(earlier) - int(rank)) if rank is not None and earlier is not None else None,
            new=bool(previous) and rank is not None and earlier is None,
            cpu_quota_cores=plain(records.get(submission, {}).get("cpu_quota_cores")),
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


def earlier_versions(versions: list[dict], current_hash: Optional[str]) -> list[dict]:
    """One submission's versions (history.versions_by_submission) as its page shows them."""
    return [{**version, "current": version["content_hash"] == str(current_hash),
             "first_seen": _when(version["first_seen"])}
            for version in versions]


def rank_change(entry: Entry) -> dict:
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
