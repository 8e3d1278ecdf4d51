"""The README's first command, `dvc repro` from nothing (download, preprocess, every reference on
both tracks on the real schedule, the report), once per batch order: `grading.order: folder`
against `longest_first` (issue 28). Each run starts from an empty workspace, so both include the
same download and preprocessing; the difference is when the costliest training starts.

Long: two full runs (about 12 minutes each on 2 cores). Run it on an idle machine:

    python bench/run.py --only first_run
"""

from __future__ import annotations

from pathlib import Path

from bench.common import base_params, environment, log, make_workspace, references, row, run

ORDERS = ("folder", "longest_first")


def section(args, root: Path, report: dict) -> None:
    env = environment({"GRADEBENCH_MIRROR": args.mirror} if args.mirror else None)
    submissions = {path.name: path for path in references()}
    runs = {}
    for order in ORDERS:
        params = base_params(workers=args.setup_workers)  # the real schedule, the whole datasets
        params["grading"]["order"] = order
        ws = make_workspace(root, f"first-run-{order}", params, submissions, dvc=True)
        log(f"first_run: `dvc repro` from nothing, grading.order={order} ...")
        timed = run(["dvc", "repro"], ws, env)
        arrived = [line.split("] ", 1)[1].split(":")[0] for _, line in timed.line_times
                   if line.startswith("[") and "] " in line]
        runs[order] = {"seconds": timed.seconds, "stages": timed.stage_seconds(), "finished_in_order": arrived}
        log(f"first_run: {order}: {timed.seconds:.0f} s; stages {runs[order]['stages']}")
    report["first_run"] = {"workers": args.setup_workers, "submissions": sorted(submissions), "runs": runs}


def rows(report: dict) -> list[tuple]:
    figures = report.get("first_run")
    if not figures:
        return []
    runs = figures["runs"]
    table = [row(f"F first `dvc repro`, order {order}", f"{runs[order]['seconds'] / 60:.1f} min", "-", None)
             for order in ORDERS if order in runs]
    if all(order in runs for order in ORDERS):
        ratio = runs["longest_first"]["seconds"] / runs["folder"]["seconds"]
        table.append(row("F longest_first / folder", f"{ratio:.3f}x", "< 1", ratio))
    return table
