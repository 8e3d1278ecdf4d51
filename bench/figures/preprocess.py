"""Figure 4: `python -m pipeline preprocess mnist|notmnist`, wall time (target <= 3 s for MNIST)."""

from __future__ import annotations

from pathlib import Path

from bench.common import base_params, environment, log, make_workspace, median, pipeline_cmd, row, run

PREPROCESS_TARGET = 3.0


def section(args, root: Path, report: dict) -> Path:
    """Download once, then time `preprocess` for both datasets; returns the prepared data folder."""
    ws = make_workspace(root, "data", base_params(), {})
    env = environment({"GRADEBENCH_MIRROR": args.mirror} if args.mirror else None)
    for dataset in ("mnist", "notmnist"):
        run(pipeline_cmd("download", dataset), ws, env)
    times = {"mnist": [], "notmnist": []}
    for _ in range(args.repeats):
        for dataset in times:
            times[dataset].append(run(pipeline_cmd("preprocess", dataset), ws, env).seconds)
    report["preprocess"] = {dataset: {"seconds": values, "median_seconds": median(values)}
                            for dataset, values in times.items()}
    log("preprocess: " + ", ".join(f"{d} {median(v):.2f} s" for d, v in times.items()))
    return ws / "data" / "prepared"


def rows(report: dict) -> list[tuple]:
    pre = report.get("preprocess")
    if not pre:
        return []
    return [row("4 preprocess MNIST", f"{pre['mnist']['median_seconds']:.2f} s", "<= 3 s",
                pre["mnist"]["median_seconds"] / PREPROCESS_TARGET),
            row("4 preprocess notMNIST (info)", f"{pre['notmnist']['median_seconds']:.2f} s", "-", None)]
