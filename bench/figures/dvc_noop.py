"""Figures 2 and 3: no-op `dvc repro` with 20 graded submissions (<= 5 s), then one edited model.py:
exactly one re-train per track, and `dvc repro` vs grading it directly (<= 1.2x)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.common import (base_params, environment, log, make_workspace, median, pipeline_cmd, read_result,
                          references, row, run)

NOOP_TARGET, INCREMENTAL_TARGET = 5.0, 1.2


def twenty_submissions(count: int) -> dict[str, Path]:
    refs = references()
    return {f"{refs[i % len(refs)].name}_{i:02d}": refs[i % len(refs)] for i in range(count)}


def result_stamps(ws: Path) -> dict[str, str]:
    stamps = {}
    for path in sorted((ws / "results").glob("*/*.json")):
        stamps[f"{path.parent.name}/{path.stem}"] = json.loads(path.read_text()).get("graded_at", "") + \
            hashlib.sha256(path.read_bytes()).hexdigest()
    return stamps


def section(args, root: Path, report: dict) -> None:
    """No-op `dvc repro` with 20 graded submissions, then one edited model.py (incremental)."""
    tiny = {"train": 1024, "validation": 256, "hidden": 512}
    # Default: a tiny schedule, so that grading 20 x 2 submissions takes minutes; then every fixed
    # cost (DVC, the leaderboard stage) weighs heavily. --dvc-epochs/--dvc-full-data: a heavier one.
    params = base_params(epochs=args.dvc_epochs, subset=None if args.dvc_full_data else tiny,
                         workers=args.setup_workers)
    ws = make_workspace(root, "dvc", params, twenty_submissions(args.submission_count), dvc=True)
    env = environment({"GRADEBENCH_MIRROR": args.mirror} if args.mirror else None)
    log(f"dvc: first `dvc repro` grades {args.submission_count} submissions x 2 tracks ({args.dvc_epochs} epoch(s), "
        f"{'full data' if args.dvc_full_data else 'tiny subset'}) ...")
    setup = run(["dvc", "repro"], ws, env)
    log(f"dvc: set up in {setup.seconds:.0f} s")
    noop = []
    for _ in range(max(3, args.repeats)):
        timed = run(["dvc", "repro"], ws, env)
        ran = [line for line in timed.output.splitlines() if line.startswith("Running stage")]
        noop.append({"seconds": timed.seconds, "stages_run": ran})
    report["noop"] = {"submissions": args.submission_count, "setup_seconds": setup.seconds, "runs": noop,
                      "median_seconds": median([r["seconds"] for r in noop]), "target": NOOP_TARGET}
    log(f"noop dvc repro: {report['noop']['median_seconds']:.2f} s (stages run: {noop[-1]['stages_run']})")

    edited = next(name for name in sorted(twenty_submissions(args.submission_count)) if "mlp_256" in name)
    model = ws / "submissions" / edited / "model.py"
    runs = []
    for repeat in range(args.repeats):
        for which in (("dvc", "direct") if repeat % 2 == 0 else ("direct", "dvc")):
            before = result_stamps(ws)
            with open(model, "a") as handle:
                handle.write(f"# bench edit {which} {repeat}\n")
            if which == "dvc":
                timed = run(["dvc", "repro"], ws, env)
            else:  # the same submission graded directly, both tracks, no DVC
                timed = run(pipeline_cmd("grade", "mnist"), ws, env)
                second = run(pipeline_cmd("grade", "notmnist"), ws, env)
                timed.seconds += second.seconds
            after = result_stamps(ws)
            changed = sorted(key for key in after if before.get(key) != after[key])
            runs.append({"how": which, "seconds": timed.seconds, "regraded": changed})
            log(f"incremental {which} #{repeat + 1}: {timed.seconds:.1f} s, re-graded {changed}")
    dvc_s = median([r["seconds"] for r in runs if r["how"] == "dvc"])
    direct_s = median([r["seconds"] for r in runs if r["how"] == "direct"])
    own = [read_result(ws, track, edited).get("wall_seconds") for track in ("mnist", "notmnist")]
    report["incremental"] = {
        "edited": edited, "epochs": args.dvc_epochs, "data": "full" if args.dvc_full_data else "tiny subset",
        "runs": runs, "dvc_seconds": dvc_s, "direct_grade_seconds": direct_s,
        "ratio": dvc_s / direct_s, "target": INCREMENTAL_TARGET, "sandbox_wall_seconds": own,
        "ratio_to_sandbox_time": dvc_s / sum(own),
        "exactly_one_per_track": all(
            sorted(key.split("/")[0] for key in r["regraded"]) == ["mnist", "notmnist"]
            and all(key.endswith(edited) for key in r["regraded"]) for r in runs if r["how"] == "dvc"),
    }


def rows(report: dict) -> list[tuple]:
    rows = []
    noop = report.get("noop")
    if noop:
        rows.append(row(f"2 no-op dvc repro ({noop['submissions']} subs)", f"{noop['median_seconds']:.2f} s",
                        "<= 5 s", noop["median_seconds"] / NOOP_TARGET))
    inc = report.get("incremental")
    if inc:
        rows.append(row("3 incremental: one re-train per track", str(inc["exactly_one_per_track"]), "True",
                        0.0 if inc["exactly_one_per_track"] else 2.0))
        rows.append(row(f"3 incremental dvc repro / direct grade ({inc.get('epochs', 1)} ep, "
                        f"{inc.get('data', 'tiny subset')})", f"{inc['ratio']:.2f}x ({inc['dvc_seconds']:.1f}/"
                        f"{inc['direct_grade_seconds']:.1f} s)", "<= 1.2x", inc["ratio"] / INCREMENTAL_TARGET))
        rows.append(row("  dvc repro / sandbox time of that sub (info)", f"{inc['ratio_to_sandbox_time']:.2f}x",
                        "-", None))
    return rows
