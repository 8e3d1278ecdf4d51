"""Results -> ranked leaderboard tables (CSV, Markdown), DVC metrics and Pareto plots.

Ranking (Kaggle's model): by the accuracy on the hidden split's *public* part while the course
runs, by its *private* part once params.yaml says `leaderboard.reveal_private: true`; with
several seeds, by the mean. Ties go to fewer parameters (trainable or not), or, with
`leaderboard.tie_break: compute`, to fewer FLOPs per image first, then to the earlier
submission (its git commit time, see pipeline/grading/submission_facts.py), then to the submission id, so ranks
are always distinct. Failed submissions are listed at the bottom with their status and message,
never dropped.

While the private part is hidden, no export (CSV, Markdown, metrics.json, grades.csv) carries a
private score, nor the full-test-set accuracy, from which the private one could be computed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pandas as pd

from pipeline import status
from pipeline.grading import duplicates
from pipeline.grading.record import RESULT_SUFFIX, read_result
from pipeline.reporting import chart_cache, chart_ticks
from pipeline.reporting.chart_worker import ChartWorker

PUBLIC, PRIVATE = "public_accuracy", "private_accuracy"
# Always exported.
BASE_COLUMNS = [
    "track", "rank", "submission", "student_id", "baseline", "status", "public_accuracy", "public_accuracy_std",
]
# Exported only once the private part is revealed.
PRIVATE_COLUMNS = ["private_accuracy", "private_accuracy_std", "test_accuracy"]
DETAIL_COLUMNS = [
    "seeds", "validation_accuracy", "total_params", "trainable_params", "mflops_per_image", "images_per_second",
    "train_seconds", "predict_seconds", "submitted_at", "late_days", "custom_code", "pareto", "pareto_compute",
    "duplicate_of", "review", "error",
]
# Read from each result (instructor data: private scores included); all are fields of `Result`.
RESULT_KEYS = [
    "submission", "student_id", "baseline", "status", "public_accuracy", "public_accuracy_std",
    "private_accuracy", "private_accuracy_std", "test_accuracy", "validation_accuracy", "trainable_params",
    "total_params", "train_seconds", "predict_seconds", "submitted_at", "error", "architecture_hash",
    "source_hash", "seeds", "late", "late_days", "penalty", "handin_source", "handin_commit", "handin_lms_file",
    "custom_code", "review",
    "mflops_per_image", "images_per_second",
]
# Kept in the ranked table for the site's feedback pages (so that it need not read every result
# again), never exported.
PAGE_KEYS = ["content_hash", "cpu_quota_cores", "model_summary"]
PLOTS_DIR = "plots"


def ranking_metric(reveal_private: bool) -> str:
    return PRIVATE if reveal_private else PUBLIC


def export_columns(reveal_private: bool) -> list[str]:
    return BASE_COLUMNS + (PRIVATE_COLUMNS if reveal_private else []) + DETAIL_COLUMNS


def load_track_results(results_dir: Path, track_name: str) -> pd.DataFrame:
    # An unreadable file (another schema's, or half-written) is left out: the next grade run replaces it.
    return results_frame([read_result(path) for path in sorted(results_dir.glob(f"*{RESULT_SUFFIX}"))], track_name)


def results_frame(results: list, track_name: str) -> pd.DataFrame:
    """One row per result (grading.record.Result; None entries are skipped), for `rank`."""
    rows = []
    for result in sorted((result for result in results if result is not None), key=lambda result: result.submission):
        row = {key: getattr(result, key) for key in RESULT_KEYS + PAGE_KEYS}
        row["seeds"] = len(result.seeds or [None])
        row["student_id"] = row["student_id"] or row["submission"]
        row["baseline"] = bool(row["baseline"])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=RESULT_KEYS + PAGE_KEYS)
    frame.insert(0, "track", track_name)
    return frame


def pareto_front(accuracy: pd.Series, params: pd.Series) -> pd.Series:
    """True where no other row is at least as accurate with at most as many parameters and
    strictly better in one of the two (higher accuracy, fewer parameters both better)."""
    # Every pair at once (row i against every other j): a Python loop over the rows cost half a
    # second at 1,000 submissions; this is a million comparisons in numpy, milliseconds.
    a = accuracy.to_numpy(dtype=float, na_value=np.nan)
    p = params.to_numpy(dtype=float, na_value=np.nan)
    at_least_as_good = (a[None, :] >= a[:, None]) & (p[None, :] <= p[:, None])
    better_in_one = (a[None, :] > a[:, None]) | (p[None, :] < p[:, None])
    dominated = (at_least_as_good & better_in_one).any(axis=1)
    return pd.Series(~dominated, index=accuracy.index, dtype=bool)


def flag_duplicates(frame: pd.DataFrame) -> pd.Series:
    """`duplicate_of` per row: the other submissions with the same normalised source or architecture."""
    def groups(column: str) -> dict[str, list[str]]:
        return duplicates.duplicate_groups(dict(zip(frame["submission"], frame[column])))

    same_source, same_architecture = groups("source_hash"), groups("architecture_hash")
    return frame["submission"].map(lambda name: duplicates.describe(same_architecture[name], same_source[name]))


# What breaks a tie in accuracy first (params.yaml leaderboard.tie_break), then the submission time.
TIE_BREAKS = {"parameters": ["total_params"], "compute": ["mflops_per_image", "total_params"]}


def rank(frame: pd.DataFrame, reveal_private: bool = False, tie_break: str = "parameters") -> pd.DataFrame:
    """Order rows by the ranking rule, number the successful ones 1..n, add Pareto and duplicate
    flags. Returns every column (private scores included): `export` decides what is shown."""
    metric = ranking_metric(reveal_private)
    frame = frame.copy()
    frame["duplicate_of"] = flag_duplicates(frame) if len(frame) else pd.Series(dtype=object)
    ok = frame[frame["status"] == status.OK].copy()
    # Missing submission times sort last: an unknown time never wins a tie.
    ok["_submitted"] = pd.to_datetime(ok["submitted_at"], utc=True, errors="coerce")
    # Ties go to the smaller model: every parameter counts (total_params), trainable or not; or to
    # the cheaper one per image first (leaderboard.tie_break: compute).
    ties = TIE_BREAKS[tie_break]
    ok = ok.sort_values([metric, *ties, "_submitted", "submission"], ascending=[False, *[True] * len(ties), True, True],
                        kind="stable", na_position="last").drop(columns="_submitted")
    ok["pareto"] = pareto_front(ok[metric].astype(float), ok["total_params"].astype(float)) if len(ok) else []
    ok["pareto_compute"] = compute_front(ok, metric)
    ok = ok.assign(rank=range(1, len(ok) + 1))
    failed = frame[frame["status"] != status.OK].sort_values(["status", "submission"], kind="stable")
    failed = failed.assign(rank=pd.NA, pareto=False, pareto_compute=False)
    ranked = pd.concat([frame.iloc[0:0].assign(rank=pd.NA, pareto=False, pareto_compute=False), ok, failed],
                       ignore_index=True)
    ranked["rank"] = ranked["rank"].astype("Int64")
    ranked["pareto"] = ranked["pareto"].astype(bool)
    ranked["pareto_compute"] = ranked["pareto_compute"].astype(bool)
    return ranked


def compute_front(ok: pd.DataFrame, metric: str) -> pd.Series:
    """The second Pareto front, accuracy vs FLOPs per image, over the rows whose FLOPs were counted
    (results graded before the count have none and are on neither side of it)."""
    counted = ok["mflops_per_image"].notna()
    front = pd.Series(False, index=ok.index, dtype=bool)
    if counted.any():
        front[counted] = pareto_front(ok.loc[counted, metric].astype(float),
                                      ok.loc[counted, "mflops_per_image"].astype(float))
    return front


def export(ranked: pd.DataFrame, reveal_private: bool) -> pd.DataFrame:
    """The columns that may be shown: no private (or full-test) score while it is hidden."""
    return ranked[export_columns(reveal_private)]


def _accuracy_cell(value, spread) -> str:
    if pd.isna(value):
        return ""
    return f"{value:.4f}" + (f" ± {spread:.4f}" if pd.notna(spread) else "")


def to_markdown(shown: pd.DataFrame, track_name: str) -> str:
    table = shown.drop(columns=["track"]).copy()
    for metric in (PUBLIC, PRIVATE):
        if metric in table:
            table[metric] = [_accuracy_cell(v, s) for v, s in zip(table[metric], table[f"{metric}_std"])]
            table = table.drop(columns=f"{metric}_std")
    for column in ("test_accuracy", "validation_accuracy"):
        if column in table:
            table[column] = table[column].map(lambda v: f"{v:.4f}" if pd.notna(v) else "")
    for column in ("train_seconds", "predict_seconds"):
        table[column] = table[column].map(lambda v: f"{v:.1f}" if pd.notna(v) else "")
    table["rank"] = table["rank"].map(lambda v: "" if pd.isna(v) else str(v))
    table["baseline"] = table["baseline"].map(lambda v: "baseline" if v else "")
    table["pareto"] = table["pareto"].map(lambda v: "★" if v else "")
    table["pareto_compute"] = table["pareto_compute"].map(lambda v: "★" if v else "")
    table["mflops_per_image"] = table["mflops_per_image"].map(format_mflops)
    table = table.drop(columns=["student_id", "predict_seconds", "images_per_second"])
    table = table.astype(object).where(table.notna(), "")
    return f"## {track_name}\n\n" + pipe_table(table) + "\n"


def pipe_table(table: pd.DataFrame) -> str:
    """A Markdown pipe table of already formatted cells, laid out as pandas' `to_markdown` (tabulate's
    "pipe" format: left-aligned, headers padded by two) lays it out, in a quarter of its time (1,000
    rows: 0.09 s with tabulate, which parses every cell, against 0.02 s)."""
    headers = [str(column) for column in table.columns]
    rows = [[str(cell) for cell in row] for row in table.itertuples(index=False)]
    widths = [max([len(header) + 2] + [len(row[index]) for row in rows]) for index, header in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    rule = "|" + "|".join(":" + "-" * (width + 1) for width in widths) + "|"
    return "\n".join([line(headers), rule] + [line(row) for row in rows])


def format_mflops(value) -> str:
    """4.94, 0.47, 0.0157: three significant figures, the small models' figures not read as 0."""
    return f"{value:.3g}" if pd.notna(value) else ""


def track_metrics(ranked: pd.DataFrame, reveal_private: bool) -> dict:
    metric = ranking_metric(reveal_private)
    ok = ranked[ranked["status"] == status.OK]
    return {
        "ranked_by": metric,
        "submissions": int(len(ranked)),
        "graded_ok": int(len(ok)),
        "failed": int(len(ranked) - len(ok)),
        f"best_{metric}": float(ok[metric].max()) if len(ok) else None,
        metric: {row.submission: float(getattr(row, metric)) for row in ok.itertuples()},
    }


LABEL_EVERY_POINT_UP_TO = 30
MAX_FRONT_LABELS = 15
MARKDOWN_FILE = "leaderboard.md"


def points_to_label(accuracy: list, params: list, front: list, baseline: list) -> list[int]:
    """Which points of a Pareto plot get their name: every point while the class is small; beyond
    that every baseline and at most MAX_FRONT_LABELS of the front, the most accurate first, one name
    per position (a large class has many identical models, so hundreds of tied front points whose
    names would pile into one blob and cost a text layout each)."""
    count = len(accuracy)
    if count <= LABEL_EVERY_POINT_UP_TO:
        return list(range(count))
    chosen, taken = [i for i in range(count) if baseline[i]], set()
    for i in sorted((i for i in range(count) if front[i] and not baseline[i]), key=lambda i: (-accuracy[i], params[i])):
        if len(taken) == MAX_FRONT_LABELS:
            break
        if (accuracy[i], params[i]) not in taken:
            taken.add((accuracy[i], params[i]))
            chosen.append(i)
    return sorted(chosen)


# The PNG text chunk that holds the hash of what a plot shows (pareto_inputs_key).
INPUTS_KEY_CHUNK = "Comment"


@functools.lru_cache(maxsize=1)
def _drawing_code_key() -> str:
    """This module's bytes, the tick labels' and matplotlib's version (chart_cache.drawing_code_key)."""
    return chart_cache.drawing_code_key([Path(__file__), Path(chart_ticks.__file__)])


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


def pareto_inputs_key(ok: pd.DataFrame, track_name: str, metric: str, plot: FrontPlot = SIZE_PLOT) -> str:
    """The hash of everything a Pareto plot shows (every point, its name and flags, the titles) and
    of the code that draws it."""
    columns = ["submission", plot.cost, metric, plot.front, "baseline"]
    points = ok[columns].astype(object).where(ok[columns].notna(), None).values.tolist()
    return hashlib.sha256(json.dumps([_drawing_code_key(), track_name, metric, plot.title, points],
                                     default=str).encode()).hexdigest()


def drawn_from(path: Path, key: str) -> bool:
    """Whether the PNG at `path` was drawn from the inputs whose key is `key`."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.info.get(INPUTS_KEY_CHUNK) == key
    except (OSError, ValueError):
        return False


def plot_pareto(ranked: pd.DataFrame, track_name: str, metric: str, path: Path) -> bool:
    """Accuracy against parameters (every one, trainable or not; log scale), the Pareto front
    joined up. Returns whether it drew (see plot_front)."""
    return plot_front(ranked, track_name, metric, path, SIZE_PLOT)


def plot_compute_pareto(ranked: pd.DataFrame, track_name: str, metric: str, path: Path) -> bool:
    """Accuracy against FLOPs per image (log scale), the second Pareto front joined up."""
    return plot_front(ranked, track_name, metric, path, COMPUTE_PLOT)


def plot_front(ranked: pd.DataFrame, track_name: str, metric: str, path: Path, plot: FrontPlot) -> bool:
    """Drawn only when what it shows changed (its inputs' key, kept in the PNG): a run that
    re-grades one track leaves the other tracks' plots as they are. Returns whether it drew."""
    ok = ranked[(ranked["status"] == status.OK) & ranked[plot.cost].notna()]
    key = pareto_inputs_key(ok, track_name, metric, plot)
    if drawn_from(path, key):
        return False
    from matplotlib.figure import Figure  # the object API: no global pyplot state, no display

    figure = Figure(figsize=(7, 4.5))
    axis = figure.subplots()
    if len(ok):
        front = ok[ok[plot.front]].sort_values(plot.cost)
        axis.scatter(ok[plot.cost], ok[metric], color="tab:gray", label="submission")
        axis.step(front[plot.cost], front[metric], where="post", color=plot.colour, alpha=0.6)
        axis.scatter(front[plot.cost], front[metric], color=plot.colour, zorder=3, label="Pareto front")
        labelled = ok.iloc[points_to_label(ok[metric].tolist(), ok[plot.cost].tolist(),
                                           ok[plot.front].astype(bool).tolist(), ok["baseline"].astype(bool).tolist())]
        for row in labelled.itertuples():
            axis.annotate(row.submission, (getattr(row, plot.cost), getattr(row, metric)), fontsize=8,
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


def write_leaderboards(results_root: Path, track_names: list[str], reveal_private: bool = False,
                       ranked_tables: Optional[dict] = None, tie_break: str = "parameters",
                       worker: Optional[ChartWorker] = None) -> pd.DataFrame:
    """Write leaderboard.csv/.md, metrics.json and plots/pareto_<track>.png (accuracy vs parameters)
    and plots/pareto_compute_<track>.png (accuracy vs FLOPs per image) for every track; return the
    combined exported table. `ranked_tables`, if given, receives each track's full ranked table
    (private scores included) for the trusted steps after it (grades, MLflow). `worker`: where
    the plots are drawn (chart_worker.py; None: here, before returning)."""
    plots = worker or ChartWorker(parallel=False)
    tables, sections, metrics = [], [], {}
    metric = ranking_metric(reveal_private)
    for track_name in track_names:
        ranked = rank(load_track_results(results_root / track_name, track_name), reveal_private, tie_break)
        if ranked_tables is not None:
            ranked_tables[track_name] = ranked
        shown = export(ranked, reveal_private)
        tables.append(shown)
        sections.append(to_markdown(shown, track_name))
        metrics[track_name] = track_metrics(ranked, reveal_private)
        plots.submit(plot_pareto, ranked, track_name, metric, results_root / PLOTS_DIR / f"pareto_{track_name}.png")
        plots.submit(plot_compute_pareto, ranked, track_name, metric,
                     results_root / PLOTS_DIR / f"pareto_compute_{track_name}.png")
    combined = pd.concat(tables, ignore_index=True)
    combined.to_csv(results_root / "leaderboard.csv", index=False)
    heading = "# gradebench leaderboard\n\n" + (
        "Final ranking: accuracy on the private part of the hidden test split.\n\n" if reveal_private else
        "Ranked by accuracy on the public part of the hidden test split; the final ranking uses the "
        "private part.\n\n")
    (results_root / MARKDOWN_FILE).write_text(heading + "\n".join(sections))
    (results_root / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if worker is None:
        plots.close()  # drawn already: their errors are raised here
    return combined
