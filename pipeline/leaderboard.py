"""Results -> ranked leaderboard tables (CSV, Markdown) and DVC metrics.

Ranking: hidden-test accuracy, higher first; ties go to fewer trainable parameters. Failed
submissions are listed at the bottom with their status and message, never dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline import status

COLUMNS = [
    "track", "rank", "submission", "status", "test_accuracy", "validation_accuracy",
    "trainable_params", "total_params", "train_seconds", "predict_seconds", "error",
]


def load_track_results(results_dir: Path, track_name: str) -> pd.DataFrame:
    rows = [json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("track", "rank")])
    frame.insert(0, "track", track_name)
    return frame


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Order rows by the ranking rule and number the successful ones 1..n."""
    ok = frame[frame["status"] == status.OK].sort_values(
        ["test_accuracy", "trainable_params", "submission"], ascending=[False, True, True], kind="stable"
    )
    failed = frame[frame["status"] != status.OK].sort_values(["status", "submission"], kind="stable")
    ok = ok.assign(rank=range(1, len(ok) + 1))
    failed = failed.assign(rank=pd.NA)
    ranked = pd.concat([ok, failed], ignore_index=True)
    ranked["rank"] = ranked["rank"].astype("Int64")
    return ranked[COLUMNS]


def to_markdown(ranked: pd.DataFrame, track_name: str) -> str:
    shown = ranked.drop(columns=["track"]).copy()
    shown["test_accuracy"] = shown["test_accuracy"].map(lambda v: f"{v:.4f}" if pd.notna(v) else "")
    shown["validation_accuracy"] = shown["validation_accuracy"].map(lambda v: f"{v:.4f}" if pd.notna(v) else "")
    for column in ("train_seconds", "predict_seconds"):
        shown[column] = shown[column].map(lambda v: f"{v:.1f}" if pd.notna(v) else "")
    shown["rank"] = shown["rank"].map(lambda v: "" if pd.isna(v) else str(v))
    shown = shown.astype(object).fillna("")
    # disable_numparse keeps our formatted strings ("0.9812") as written.
    return f"## {track_name}\n\n" + shown.to_markdown(index=False, disable_numparse=True) + "\n"


def track_metrics(ranked: pd.DataFrame) -> dict:
    ok = ranked[ranked["status"] == status.OK]
    return {
        "submissions": int(len(ranked)),
        "graded_ok": int(len(ok)),
        "failed": int(len(ranked) - len(ok)),
        "best_test_accuracy": float(ok["test_accuracy"].max()) if len(ok) else None,
        "test_accuracy": {row.submission: float(row.test_accuracy) for row in ok.itertuples()},
    }


def write_leaderboards(results_root: Path, track_names: list[str]) -> pd.DataFrame:
    """Write leaderboard.csv/.md and metrics.json for every track; return the combined table."""
    tables, sections, metrics = [], [], {}
    for track_name in track_names:
        ranked = rank(load_track_results(results_root / track_name, track_name))
        tables.append(ranked)
        sections.append(to_markdown(ranked, track_name))
        metrics[track_name] = track_metrics(ranked)
    combined = pd.concat(tables, ignore_index=True)
    combined.to_csv(results_root / "leaderboard.csv", index=False)
    (results_root / "leaderboard.md").write_text("# gradebench leaderboard\n\n" + "\n".join(sections))
    (results_root / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return combined
