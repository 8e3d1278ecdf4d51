"""py-spy on the grading parent for one small-MLP submission: where the time outside training goes,
and what the grader's imports cost (`-X importtime`)."""

from __future__ import annotations

import collections
import shutil
import sys
from pathlib import Path

import yaml

from bench.common import REPO, base_params, clear_results, make_workspace, pipeline_cmd, read_result, run, set_submissions


def section(args, root: Path, prepared: Path, report: dict) -> None:
    """py-spy on the grading parent for one small-MLP submission: where the time outside training goes."""
    if shutil.which("py-spy") is None:
        report["profile"] = {"note": "py-spy not installed (pip install py-spy)"}
        return
    params = base_params(epochs=args.epochs, tracks=("mnist",))
    ref = REPO / "submissions" / "logistic_regression"
    ws = root / "overhead" if (root / "overhead").exists() else make_workspace(root, "overhead", params, {},
                                                                                prepared_from=prepared)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    set_submissions(ws, {ref.name: ref})
    clear_results(ws)
    raw = root / "grade_parent.pyspy.txt"
    timed = run(["py-spy", "record", "--idle", "-r", "100", "--format", "raw", "-o", str(raw), "--",
                 *pipeline_cmd("grade", "mnist")], ws)
    # What the grader's imports cost (the parent imports these before grading anything).
    imports = run([sys.executable, "-X", "importtime", "-c",
                   "import pipeline.grading.orchestrate, pipeline.reporting.publish, pipeline.config"], ws)
    report["profile"] = {"grade_parent": summarize_pyspy(raw), "seconds": timed.seconds,
                         "sandbox_wall_seconds": read_result(ws, "mnist", ref.name)["wall_seconds"],
                         "import_seconds_by_package": summarize_importtime(imports.output)}
    shutil.copy(raw, args.results_dir / "grade_parent.pyspy.txt")


def summarize_importtime(text: str) -> dict:
    """`-X importtime` output -> cumulative seconds of each top-level package (largest first)."""
    totals = {}
    for line in text.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not cumulative.isdigit() or line.split("|")[2].startswith("  "):  # nested: in its parent
            continue
        totals[name] = int(cumulative) / 1e6
    return dict(sorted(totals.items(), key=lambda item: -item[1])[:8])


PHASES = [  # (label, function, file) identifying a phase in the collapsed stacks
    ("load params (pydantic)", "load_params", "pipeline/config.py"),
    ("MLflow client + experiment + git provenance (background thread)", "__init__", "pipeline/reporting/tracking.py"),
    ("grade command (everything after imports)", "main", "pipeline/commands/grade.py"),
    ("grade_track (everything below + the wait)", "grade_track", "pipeline/grading/orchestrate.py"),
    ("  hashing (data files, grader code, submissions)", "file_sha256", "pipeline/file_hash.py"),
    ("  arrays into the scratch folder (links, or np.savez without a run copy)", "link_or_write_arrays",
     "pipeline/sandbox/pair.py"),
    ("  sandbox, both steps (build, then train)", "run_in_sandbox", "pipeline/grading/jobs.py"),
    ("    one sandboxed step (waiting for the trainer)", "run_training", "pipeline/sandbox/runner.py"),
    ("  trusted scoring and checks", "judge", "pipeline/grading/scoring.py"),
    ("feedback plots of the result", "write_feedback", "pipeline/reporting/feedback.py"),
    ("MLflow logging of the result", "log", "pipeline/reporting/tracking.py"),
]


def summarize_pyspy(raw: Path) -> dict:
    """Inclusive seconds per grading phase (100 Hz samples), and the top self-time frames."""
    total = 0
    phases = collections.Counter()
    self_time = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        count = int(count)
        total += count
        frames = stack.split(";")
        self_time[frames[-1]] += count
        in_main = any(f.split(" (")[0] == "main" and "pipeline/__main__.py" in f for f in frames)
        if not in_main and "_bootstrap (threading.py" not in frames[0]:
            phases["interpreter start + imports, before main()"] += count
        for label, function, filename in PHASES:
            if any(f.split(" (")[0].split(".")[-1] == function and filename in f for f in frames):
                phases[label] += count
    return {"samples": total, "seconds_by_phase": {k: v / 100 for k, v in phases.items()},
            "top_self_frames": [(frame, n / 100) for frame, n in self_time.most_common(10)]}


def print_details(report: dict) -> None:
    profile = report.get("profile")
    if not profile or "grade_parent" not in profile:
        return
    print(f"\npy-spy, grading parent ({profile['seconds']:.1f} s wall, sandbox "
          f"{profile['sandbox_wall_seconds']:.1f} s):")
    for label, seconds in profile["grade_parent"]["seconds_by_phase"].items():
        print(f"  {seconds:6.2f} s  {label}")
    print("grader imports (-X importtime, cumulative):")
    for name, seconds in profile.get("import_seconds_by_package", {}).items():
        print(f"  {seconds:6.2f} s  import {name}")
