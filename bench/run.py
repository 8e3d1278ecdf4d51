"""gradebench performance benchmark (issue #6): what grading costs beyond training the model.

    python bench/run.py                 # default: meaningful, ~30-40 min on 2 cores
    python bench/run.py --quick         # smoke run, ~10 min: 1 epoch, 1 repeat, small lever
    python bench/run.py --epochs 30     # the real MNIST schedule for the overhead figure (long)
    python bench/run.py --only overhead,noop   # some sections only
    python bench/run.py --only cohort --cohort-sizes 100   # cohort scale (issue 17)

Sections (each figure is a ratio taken within one run; medians over --repeats):
  preprocess  `python -m pipeline preprocess mnist|notmnist`, wall time            target <= 3 s (MNIST)
  overhead    `python -m pipeline grade mnist` with one submission vs bench/bare_train.py
              (same arrays, threads, seed, scaling, batch size, fit + predict)    <= 1.10x MLP, <= 1.05x CNN
  memory      peak RSS of the grading parent (polled) and of the sandboxed trainer (result JSON)
  noop        `dvc repro` with 20 graded submissions and nothing changed           <= 5 s
  incremental edit one model.py: exactly one re-train per track, `dvc repro` vs grading it directly <= 1.2x
  throughput  N submissions with grading.workers = 1 and 2: submissions/hour, vs one worker and the ideal;
              then (if Ray is installed, unless --no-ray) the same N on a local Ray cluster of up to
              2 one-CPU nodes (`--executor ray`): same figures, cluster start reported apart, and
              whether its accuracies equal the local rows' with the same threads per training
  profile     py-spy on the grading parent (one small MLP): seconds per grading phase, import costs
  fixed_cost  the six references graded on the tiny schedule, 1 worker: sandbox wall time minus fit per
              submission (issue 17: half of the 4.54 s before)   <= 2.27 s; and a digest of the predictions
  cohort      a synthetic cohort of N students with ~3 resubmissions each (--cohort-sizes, default
              100,300,1000; graded once and cached in --cohort-cache): no-op repro, one change,
              MLflow rank publishing, leaderboard, grader memory, fixed cost, throughput (issue 17)
  first_run   the README's first `dvc repro` from nothing, real schedule, with grading.order folder
              and longest_first (issue 28): wall time of each                       longest_first < folder
  lever       Keras backends (TensorFlow; JAX from --jax-python) and input pipelines (NumPy vs tf.data):
              train time vs TF+NumPy, and whether two runs of a config give bit-identical predictions

Everything runs in throw-away workspaces (a copy of pipeline/, dvc.yaml, params.yaml and the
reference submissions) under a temporary folder, so the repository's data/, results/ and MLflow
store are never touched. Raw files come from GRADEBENCH_MIRROR (or --mirror) or upstream.
Each section is one module in bench/figures/ (shared helpers: bench/common.py).
The table goes to stdout; everything measured goes to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH, CORES, log, print_rows, write_report  # noqa: E402
from bench.figures import (cohort, dvc_noop, first_run, fixed_cost, lever, overhead, preprocess, profile,  # noqa: E402
                           throughput)

# Sections in the order they run; preprocess always runs first (it prepares the data the others use).
SECTIONS = {"overhead": overhead, "noop": dvc_noop, "throughput": throughput, "lever": lever,
            "profile": profile, "fixed_cost": fixed_cost, "cohort": cohort, "first_run": first_run}
DEFAULT_SECTIONS = "preprocess,overhead,noop,throughput,lever,profile"


def print_table(report: dict) -> None:
    print_rows(preprocess.rows(report) + overhead.rows(report) + dvc_noop.rows(report) + throughput.rows(report)
               + overhead.memory_rows(report) + lever.rows(report) + fixed_cost.rows(report) + cohort.rows(report)
               + first_run.rows(report))
    profile.print_details(report)


def run_section(name: str, args, root: Path, prepared: Path, report: dict) -> None:
    module = SECTIONS[name]
    if module in (dvc_noop, cohort, first_run):  # they build their own DVC workspaces
        module.section(args, root, report)
    else:
        module.section(args, root, prepared, report)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat, smaller throughput and lever")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for the overhead figure (default 5; 30 = real)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3)")
    parser.add_argument("--only", default=DEFAULT_SECTIONS,
                        help="comma-separated sections: preprocess (always run, it prepares the data, unless "
                             f"only cohort is asked for), {', '.join(SECTIONS)}")
    parser.add_argument("--lean-bare", action="store_true",
                        help="overhead: the bare script imports Keras the trainer's lean way (no sklearn, matplotlib, ...)")
    parser.add_argument("--submissions", default=None, help="comma-separated references for the overhead figure")
    parser.add_argument("--submission-count", type=int, default=20, help="submissions for the no-op/incremental runs")
    parser.add_argument("--setup-workers", type=int, default=2, help="grading.workers of the no-op/incremental workspace")
    parser.add_argument("--dvc-epochs", type=int, default=1, help="epochs of the no-op/incremental workspace")
    parser.add_argument("--dvc-full-data", action="store_true",
                        help="no-op/incremental on the full datasets instead of a tiny subset")
    parser.add_argument("--throughput-n", type=int, default=None, help="submissions graded per worker count (default 8)")
    parser.add_argument("--throughput-epochs", type=int, default=None, help="epochs in the throughput run (default 2)")
    parser.add_argument("--worker-counts", default="1,2")
    parser.add_argument("--no-ray", action="store_true", help="no Ray row in the throughput section")
    parser.add_argument("--lever-models", default=None, help="default mlp_256_128,mlp_512_512_dropout,small_cnn")
    parser.add_argument("--lever-epochs", type=int, default=None, help="default 2")
    parser.add_argument("--jax-python", default="/tmp/jaxvenv/bin/python",
                        help="python of a venv with keras + jax (python -m venv /tmp/jaxvenv && "
                             "/tmp/jaxvenv/bin/pip install keras jax numpy)")
    parser.add_argument("--cohort-sizes", default="100,300,1000", help="students in each cohort (section cohort)")
    parser.add_argument("--cohort-workers", type=int, default=2, help="grading.workers of the cohort workspaces")
    parser.add_argument("--cohort-last-round", type=int, default=None,
                        help="build the cohort only up to this resubmission round (0 = first submissions only) "
                             "and measure that state; a later run without it finishes the build")
    parser.add_argument("--cohort-seed", type=int, default=17, help="seed of the synthetic cohort's models")
    parser.add_argument("--cohort-cache", default=str(cohort.default_cache()),
                        help="where graded cohort workspaces are kept between runs (keyed by size and settings)")
    parser.add_argument("--fixed-cost-copies", type=int, default=1,
                        help="fixed_cost: grade each reference this many times per round (steady state)")
    parser.add_argument("--seconds-per-epoch", type=float, default=None,
                        help="cohort projection without the overhead section: bare Keras seconds per real epoch "
                             "(median of the references in an earlier `--only overhead --epochs 30` run)")
    parser.add_argument("--mirror", default=os.environ.get("GRADEBENCH_MIRROR"), help="local mirror of raw files")
    parser.add_argument("--keep", action="store_true", help="keep the scratch workspaces")
    parser.add_argument("--table", nargs="+", metavar="JSON",
                        help="only print the table of earlier result files (later files override sections)")
    args = parser.parse_args(argv)
    if args.table:
        merged: dict = {}
        for path in args.table:
            loaded = json.loads(Path(path).read_text())
            if "overhead" in loaded and "overhead" in merged:  # keep rows measured only earlier
                loaded["overhead"]["rows"] = {**merged["overhead"]["rows"], **loaded["overhead"]["rows"]}
            merged.update(loaded)
        print_table(merged)
        return 0
    quick = args.quick
    args.epochs = args.epochs or (1 if quick else 5)
    args.repeats = args.repeats or (1 if quick else 3)
    args.throughput_n = args.throughput_n or (4 if quick else 8)
    args.throughput_epochs = args.throughput_epochs or (1 if quick else 2)
    args.lever_epochs = args.lever_epochs or (1 if quick else 2)
    args.lever_models = (args.lever_models or ("mlp_256_128" if quick else "mlp_256_128,mlp_512_512_dropout,small_cnn")).split(",")
    args.submissions = args.submissions.split(",") if args.submissions else None
    args.worker_counts = [int(w) for w in args.worker_counts.split(",")]
    args.cohort_sizes = [int(n) for n in args.cohort_sizes.split(",")]
    sections = set(args.only.split(","))
    unknown = sections - set(SECTIONS) - {"preprocess"}
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from preprocess, {', '.join(SECTIONS)}")
    args.results_dir = BENCH / "results"
    args.results_dir.mkdir(exist_ok=True)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {"started": stamp, "machine": {"cores": CORES, "python": platform.python_version(),
                                            "load_average_at_start": os.getloadavg()},
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    root = Path(tempfile.mkdtemp(prefix="gradebench-bench-"))
    log(f"workspaces in {root}")
    out = args.results_dir / f"{stamp}{'-quick' if quick else ''}.json"
    try:
        # The cohort and first_run sections prepare their data in their own workspaces.
        prepared = preprocess.section(args, root, report) if sections - {"cohort", "first_run"} else None
        for name in SECTIONS:
            if name in sections:
                started = time.perf_counter()
                run_section(name, args, root, prepared, report)
                report.setdefault("section_seconds", {})[name] = time.perf_counter() - started
                write_report(out, report)  # partial results survive
    finally:
        report["machine"]["load_average_at_end"] = os.getloadavg()
        write_report(out, report)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print_table(report)
    print(f"\nfull results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
