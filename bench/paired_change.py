"""One change in a cohort workspace, measured with two versions of the code taking turns.

The development machine's speed drifts by 20-25 % over minutes, more than most changes save, so
"before and after" from two runs minutes apart can say anything. Here both versions measure the
same workspace, alternating, each after settling its own stages and publishing format:

    git worktree add /tmp/before <rev>
    python bench/paired_change.py --before /tmp/before --pairs 3 \\
        --workspace bench/results/cohort/N1000-<key>

Both versions must share the grader key (fingerprints.GRADER_CODE), else the swap re-trains the
class. The workspace is left on this checkout's code.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import environment  # noqa: E402
from bench.figures import cohort  # noqa: E402


def use_code(ws: Path, repo: Path, env: dict) -> None:
    """The workspace on `repo`'s pipeline/ and stages (one track, as the cohort), settled."""
    shutil.rmtree(ws / "pipeline")
    shutil.copytree(repo / "pipeline", ws / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())
    report = stages["stages"]["report"]
    report["deps"] = [dep for dep in report["deps"] if "notmnist" not in dep]
    stages["plots"] = [plot for plot in stages.get("plots", []) if "notmnist" not in json.dumps(plot)]
    (ws / "dvc.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    for name in cohort.STAGE_FILES:
        shutil.copy(repo / name, ws / name)
    for command in (["dvc", "repro", "--single-item", "--force", f"grade@{cohort.TRACK}"], ["dvc", "repro"]):
        subprocess.run(command, cwd=ws, env=env, capture_output=True, text=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare against")
    parser.add_argument("--workspace", type=Path, required=True, help="a built cohort workspace")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    env = environment({"GRADEBENCH_SITE_KEY": cohort.SITE_KEY})
    plan = json.loads((args.workspace / "cohort_plan.json").read_text())
    versions = {"before": args.before.resolve(), "after": REPO}
    rows = []
    for pair in range(args.pairs):
        for variant in ("before", "after") if pair % 2 == 0 else ("after", "before"):
            use_code(args.workspace, versions[variant], env)
            name = cohort.edit_one(args.workspace, plan, 300 + 2 * pair + (variant == "after"))
            started = time.perf_counter()
            subprocess.run(["dvc", "repro"], cwd=args.workspace, env=env, capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - started
            sandbox = json.loads((args.workspace / "results" / cohort.TRACK / f"{name}.json").read_text())["wall_seconds"]
            rows.append({"variant": variant, "submission": name, "dvc_seconds": round(seconds, 2),
                         "outside_sandbox_seconds": round(seconds - sandbox, 2)})
            print(json.dumps(rows[-1]), flush=True)
    use_code(args.workspace, REPO, env)
    for variant in ("before", "after"):
        outside = [row["outside_sandbox_seconds"] for row in rows if row["variant"] == variant]
        whole = [row["dvc_seconds"] for row in rows if row["variant"] == variant]
        print(f"{variant}: one change beyond its sandbox, median {statistics.median(outside):.2f} s {outside}; "
              f"whole dvc repro median {statistics.median(whole):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
