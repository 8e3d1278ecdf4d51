"""Figure 7: Keras backends (TensorFlow; JAX from --jax-python) and input pipelines (NumPy vs
tf.data): train time vs TF+NumPy, and whether two runs of a config give bit-identical predictions."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np

from bench.common import CORES, REPO, bare_cmd, bare_env, base_params, log, median, parse_bare, run


def section(args, root: Path, prepared: Path, report: dict) -> None:
    params = base_params(epochs=args.lever_epochs, tracks=("mnist",))
    schedule = params["tracks"]["mnist"]["schedule"]
    configs = [("tensorflow", "numpy", sys.executable), ("tensorflow", "tfdata", sys.executable)]
    jax_note = None
    if args.jax_python and Path(args.jax_python).exists():
        configs.append(("jax", "numpy", args.jax_python))
    else:
        jax_note = f"JAX skipped: no interpreter at {args.jax_python!r} (see --jax-python)"
    hidden_y = np.load(prepared / "mnist" / "hidden_y.npy")
    work = root / "lever"
    work.mkdir(exist_ok=True)
    rows = collections.defaultdict(dict)
    for name in args.lever_models:
        submission = REPO / "submissions" / name
        for backend, pipeline_kind, python in configs:
            runs = []
            for repeat in range(2):
                out = work / f"{name}-{backend}-{pipeline_kind}-{repeat}.json"
                timed = run(bare_cmd(prepared / "mnist", submission, schedule, CORES, python, pipeline_kind, out),
                            work, bare_env(schedule, CORES, backend))
                bare = parse_bare(timed.output)
                classes = np.array(json.loads(out.read_text())["predicted_classes"])
                runs.append({"seconds": timed.seconds, "test_accuracy": float(np.mean(classes == hidden_y)), **bare})
            key = f"{backend}+{pipeline_kind}"
            rows[name][key] = {
                "runs": runs, "train_seconds": median([r["train_seconds"] for r in runs]),
                "wall_seconds": median([r["seconds"] for r in runs]),
                "test_accuracy": runs[0]["test_accuracy"],
                "bit_identical": runs[0]["predictions_sha256"] == runs[1]["predictions_sha256"],
            }
            log(f"lever {name} {key}: train {rows[name][key]['train_seconds']:.1f} s, "
                f"acc {runs[0]['test_accuracy']:.4f}, bit-identical {rows[name][key]['bit_identical']}")
        base = rows[name]["tensorflow+numpy"]["train_seconds"]
        for row in rows[name].values():
            row["speed_vs_tf_numpy"] = base / row["train_seconds"]
    report["lever"] = {"epochs": args.lever_epochs, "threads": CORES, "rows": rows, "note": jax_note}


def rows(report: dict) -> list[tuple]:
    lever = report.get("lever")
    if not lever:
        return []
    rows = []
    for name, configs in lever["rows"].items():
        for key, measured in configs.items():
            rows.append((f"7 lever {name} {key} ({lever['epochs']} ep)",
                         f"train {measured['train_seconds']:.1f} s, {measured['speed_vs_tf_numpy']:.2f}x speed",
                         f"acc {measured['test_accuracy']:.4f}", "-",
                         "bit-identical" if measured["bit_identical"] else "NOT bit-identical"))
    if lever.get("note"):
        rows.append(("7 lever", lever["note"], "-", "-", "-"))
    return rows
