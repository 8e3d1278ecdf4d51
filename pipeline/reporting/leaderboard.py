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
from typing import Optional

import numpy as np
import pandas as pd

from pipeline import status
from pipeline.grading import duplicates
from pipeline.grading.record import RESULT_SUFFIX, read_result
from pipeline.reporting import chart_cache, chart_ticks, leaderboard_plots
from pipeline.reporting.chart_worker import ChartWorker
from pipeline.reporting.leaderboard_plots import COMPUTE_PLOT, SIZE_PLOT, FrontPlot, FrontPoints

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


@functools.lru_cache(maxsize=1)
def _drawing_code_key() -> str:
    """The plots' code, the tick labels' and matplotlib's version (chart_cache.drawing_code_key)."""
    return chart_cache.drawing_code_key([Path(leaderboard_plots.__file__), Path(chart_ticks.__file__)])


def front_points(ranked: pd.DataFrame, metric: str, plot: FrontPlot = SIZE_PLOT) -> FrontPoints:
    """What one Pareto plot shows: the ranked submissions that have its cost, as plain lists."""
    ok = ranked[(ranked["status"] == status.OK) & ranked[plot.cost].notna()]
    accuracy, cost = ok[metric].astype(float).tolist(), ok[plot.cost].astype(float).tolist()
    front = ok[plot.front].astype(bool).tolist()
    return FrontPoints(ok["submission"].tolist(), cost, accuracy, front,
                       points_to_label(accuracy, cost, front, ok["baseline"].astype(bool).tolist()))


def pareto_inputs_key(points: FrontPoints, track_name: str, metric: str, plot: FrontPlot = SIZE_PLOT) -> str:
    """The hash of everything a Pareto plot shows (every point, its name and flags, the titles) and
    of the code that draws it."""
    shown = [list(row) for row in zip(points.names, points.cost, points.accuracy, points.front)]
    return hashlib.sha256(json.dumps([_drawing_code_key(), track_name, metric, plot.title, shown, points.labelled],
                                     default=str).encode()).hexdigest()


def _plot_job(ranked: pd.DataFrame, track_name: str, metric: str, path: Path, plot: FrontPlot) -> tuple:
    """leaderboard_plots.draw_front's arguments for one plot of `ranked`."""
    points = front_points(ranked, metric, plot)
    return points, track_name, metric, path, plot, pareto_inputs_key(points, track_name, metric, plot)


def plot_pareto(ranked: pd.DataFrame, track_name: str, metric: str, path: Path) -> bool:
    """Accuracy against parameters (every one, trainable or not; log scale), the Pareto front
    joined up, drawn here; returns whether it drew (only when what it shows changed)."""
    return leaderboard_plots.draw_front(*_plot_job(ranked, track_name, metric, path, SIZE_PLOT))


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
        for plot, name in ((SIZE_PLOT, f"pareto_{track_name}.png"), (COMPUTE_PLOT, f"pareto_compute_{track_name}.png")):
            plots.submit(leaderboard_plots.draw_front, *_plot_job(ranked, track_name, metric,
                                                                  results_root / PLOTS_DIR / name, plot))
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
