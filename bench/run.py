"""gradebench performance benchmark (issue #6): what grading costs beyond training the model.

    python bench/run.py                 # default: meaningful, ~30-40 min on 2 cores
    python bench/run.py --quick         # smoke run, ~10 min: 1 epoch, 1 repeat, small lever
    python bench/run.py --epochs 30     # the real MNIST schedule for the overhead figure (long)
    python bench/run.py --only overhead,noop   # some sections only

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
  lever       Keras backends (TensorFlow; JAX from --jax-python) and input pipelines (NumPy vs tf.data):
              train time vs TF+NumPy, and whether two runs of a config give bit-identical predictions

Everything runs in throw-away workspaces (a copy of pipeline/, dvc.yaml, params.yaml and the
reference submissions) under a temporary folder, so the repository's data/, results/ and MLflow
store are never touched. Raw files come from GRADEBENCH_MIRROR (or --mirror) or upstream.
The table goes to stdout; everything measured goes to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BARE = BENCH / "bare_train.py"
CORES = os.cpu_count() or 1
MLP_TARGET, CNN_TARGET = 1.10, 1.05
CNN_NAMES = ("cnn", "conv")
NOOP_TARGET, INCREMENTAL_TARGET, PREPROCESS_TARGET = 5.0, 1.2, 3.0
FULL_EPOCHS = 30  # the MNIST schedule in params.yaml; the overhead is projected onto it
RAY = Path(sys.executable).parent / "ray"
RAY_NODES = min(CORES, 2)  # one-CPU nodes of the throughput cluster: as many CPUs as the local rows
RAY_NODE_FLAGS = ["--num-cpus=1", "--object-store-memory=150000000", "--node-ip-address=127.0.0.1",
                  "--disable-usage-stats"]
RAY_READY = "block forever"  # what `ray start --block` prints once its node is up


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# Workspaces and timed commands.


def references() -> list[Path]:
    return sorted(p for p in (REPO / "submissions").iterdir() if (p / "model.py").is_file())


def is_cnn(name: str) -> bool:
    return any(word in name for word in CNN_NAMES)


def make_workspace(root: Path, name: str, params: dict, submissions: dict[str, Path], dvc: bool = False,
                   prepared_from: Path | None = None) -> Path:
    """A folder the pipeline can run in: its own pipeline/ copy, params.yaml and submissions/."""
    ws = root / name
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    shutil.copytree(REPO / "pipeline", ws / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    set_submissions(ws, submissions)
    if dvc:
        shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
        if (REPO / ".dvcignore").exists():
            shutil.copy(REPO / ".dvcignore", ws / ".dvcignore")
        run(["dvc", "init", "--no-scm", "-q"], ws)
        run(["dvc", "config", "core.analytics", "false"], ws)
    if prepared_from is not None:
        (ws / "data").mkdir()
        (ws / "data" / "prepared").symlink_to(prepared_from)
    return ws


def set_submissions(ws: Path, submissions: dict[str, Path]) -> None:
    target = ws / "submissions"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for name, source in submissions.items():
        shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))


def base_params(epochs: int | None = None, workers: int = 1, subset: dict | None = None,
                tracks: tuple[str, ...] = ("mnist", "notmnist")) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for track_name in tracks:
        track = params["tracks"][track_name]
        if epochs is not None:
            track["schedule"]["epochs"] = epochs
        if subset is not None:
            track["subset"] = dict(subset)
    params["grading"]["workers"] = workers
    params["mlflow"]["tracking_uri"] = None
    return params


def environment(extra: dict | None = None) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # the workspace's own pipeline/ copy must win
    env.update(extra or {})
    return env


class Timed:
    """A finished command: wall seconds, exit code, output, the peak RSS of the process itself, and
    the CPU seconds (user + system) of it and its reaped descendants (for `pipeline grade`: the
    grader and bwrap, not the sandboxed trainer, which the sandbox's own PID-1 reaps)."""

    def __init__(self, seconds, returncode, output, peak_rss_mb, cpu_seconds=None, load=None):
        self.seconds, self.returncode, self.output, self.peak_rss_mb = seconds, returncode, output, peak_rss_mb
        self.cpu_seconds, self.load = cpu_seconds, load


def run(command: list[str], cwd: Path, env: dict | None = None, check: bool = True, poll_rss: bool = False) -> Timed:
    """Run a command to completion; with poll_rss, sample the RSS of that one process (not its children)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env or environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    peak = [0]
    stop = threading.Event()

    def sample():
        try:
            watched = psutil.Process(process.pid)
            while not stop.is_set():
                peak[0] = max(peak[0], watched.memory_info().rss)
                stop.wait(0.05)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True) if poll_rss else None
    if sampler:
        sampler.start()
    load = os.getloadavg()[0]
    output = process.stdout.read()
    process.stdout.close()
    _, wait_status, usage = os.wait4(process.pid, 0)  # rusage covers the reaped descendants too
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    seconds = time.perf_counter() - started
    stop.set()
    if sampler:
        sampler.join()
    text = output.decode("utf-8", "replace")
    if check and process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({process.returncode}) in {cwd}:\n{text[-3000:]}")
    return Timed(seconds, process.returncode, text, peak[0] / 2**20 if poll_rss else None,
                 usage.ru_utime + usage.ru_stime, load)


def pipeline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def bare_cmd(prepared: Path, submission: Path, schedule: dict, threads: int, python: str = sys.executable,
             input_pipeline: str = "numpy", out: Path | None = None) -> list[str]:
    command = [python, str(BARE), str(prepared), str(submission), "--epochs", str(schedule["epochs"]),
               "--threads", str(threads), "--seed", str(schedule["seed"]), "--batch-size",
               str(schedule["batch_size"]), "--lr", str(schedule["learning_rate"]), "--scaling",
               schedule["scaling"], "--input", input_pipeline]
    return command + (["--out", str(out)] if out else [])


def bare_env(schedule: dict, threads: int, backend: str = "tensorflow") -> dict:
    # What the sandbox sets for the trainer: same hash seed, OpenMP threads and log level.
    return environment({"PYTHONHASHSEED": str(schedule["seed"]), "OMP_NUM_THREADS": str(threads),
                        "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": backend})


def parse_bare(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("BARE_RESULT "):
            return json.loads(line[len("BARE_RESULT "):])
    raise RuntimeError(f"bare script printed no result:\n{output[-2000:]}")


def clear_results(ws: Path, track: str = "mnist") -> None:
    shutil.rmtree(ws / "results" / track, ignore_errors=True)


def read_result(ws: Path, track: str, name: str) -> dict:
    return json.loads((ws / "results" / track / f"{name}.json").read_text())


# ---------------------------------------------------------------------------------------------
# A local Ray cluster (the throughput section's Ray row).


def ray_skip_reason(args) -> str | None:
    if args.no_ray:
        return "Ray row skipped: --no-ray"
    if importlib.util.find_spec("ray") is None or not RAY.exists():
        return "Ray row skipped: Ray is not installed (pip install '.[ray]')"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ray_node(extra: list[str], ws: Path, log_path: Path, timeout: float = 180) -> subprocess.Popen:
    """One node as `ray start --block`, our child: terminating it stops exactly that node's processes
    (`ray stop` would stop every Ray node of this user on the machine, another run's included)."""
    with open(log_path, "wb") as handle:
        process = subprocess.Popen([str(RAY), "start", "--block", *extra, *RAY_NODE_FLAGS], cwd=ws,
                                   env=environment({"RAY_USAGE_STATS_ENABLED": "0"}), stdout=handle,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while RAY_READY not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_ray_nodes([process])
            raise RuntimeError(f"ray start {' '.join(extra)} did not come up:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def wait_for_ray_cpus(address: str, cpus: int, timeout: float = 60) -> None:
    """Until every node has registered: the grader sizes its fan-out from the CPUs it sees at start."""
    import ray

    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout
        while ray.cluster_resources().get("CPU", 0) < cpus:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster at {address} has {ray.cluster_resources()}, not {cpus} CPUs")
            time.sleep(0.5)
    finally:
        ray.shutdown()


def stop_ray_nodes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each `ray start --block` (it stops its node's processes), then kill by PID whatever of
    its process tree outlived it; workers' nodes first, the head last."""
    for process in reversed(processes):
        try:
            tree = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _, alive = psutil.wait_procs(tree, timeout=15)
        for leftover in alive:
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass


# ---------------------------------------------------------------------------------------------
# Sections.


def section_preprocess(args, root: Path, report: dict) -> Path:
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


def section_overhead(args, root: Path, prepared: Path, report: dict) -> None:
    """Per reference: `pipeline grade mnist` (that one submission) vs the bare script, alternating."""
    params = base_params(epochs=args.epochs, tracks=("mnist",))
    schedule = params["tracks"]["mnist"]["schedule"]
    refs = [p for p in references() if not args.submissions or p.name in args.submissions]
    ws = make_workspace(root, "overhead", params, {}, prepared_from=prepared)
    # Warm-up: creates the MLflow store (a steady-state grader has one) and warms the file cache.
    warm = base_params(epochs=1, subset={"train": 256, "validation": 64, "hidden": 64}, tracks=("mnist",))
    (ws / "warm.yaml").write_text(yaml.safe_dump(warm, sort_keys=False))
    set_submissions(ws, {refs[0].name: refs[0]})
    run(pipeline_cmd("--params", "warm.yaml", "grade", "mnist"), ws)
    clear_results(ws)
    rows = {}
    threads = max(1, CORES // params["grading"]["workers"])
    for ref in refs:
        samples = []
        set_submissions(ws, {ref.name: ref})
        for repeat in range(args.repeats):
            measured = {}
            order = ("grade", "bare") if repeat % 2 == 0 else ("bare", "grade")
            for which in order:
                if which == "grade":
                    clear_results(ws)
                    timed = run(pipeline_cmd("grade", "mnist"), ws, poll_rss=True)
                    result = read_result(ws, "mnist", ref.name)
                    if result["status"] != "ok":
                        raise RuntimeError(f"{ref.name} graded {result['status']}: {result.get('error')}")
                    measured["grade"] = {
                        "seconds": timed.seconds, "parent_peak_rss_mb": timed.peak_rss_mb,
                        "cpu_seconds": timed.cpu_seconds, "load_1min": timed.load,
                        **{k: result.get(k) for k in ("wall_seconds", "train_seconds", "predict_seconds",
                                                       "peak_rss_mb", "peak_memory_mb", "test_accuracy",
                                                       "validation_accuracy")},
                    }
                else:
                    out = ws / "bare.json"
                    timed = run(bare_cmd(prepared / "mnist", ws / "submissions" / ref.name, schedule, threads,
                                         out=out), ws, bare_env(schedule, threads), poll_rss=True)
                    bare = parse_bare(timed.output)
                    classes = np.array(json.loads(out.read_text())["predicted_classes"])
                    hidden_y = np.load(prepared / "mnist" / "hidden_y.npy")
                    measured["bare"] = {"seconds": timed.seconds, "peak_rss_mb": timed.peak_rss_mb,
                                        "cpu_seconds": timed.cpu_seconds, "load_1min": timed.load,
                                        "test_accuracy": float(np.mean(classes == hidden_y)), **bare}
            measured["ratio"] = measured["grade"]["seconds"] / measured["bare"]["seconds"]
            samples.append(measured)
            log(f"overhead {ref.name} #{repeat + 1}: grade {measured['grade']['seconds']:.1f} s, "
                f"bare {measured['bare']['seconds']:.1f} s, ratio {measured['ratio']:.3f}; grader-side CPU "
                f"{measured['grade']['cpu_seconds']:.1f} s (load {measured['grade']['load_1min']:.1f})")
        rows[ref.name] = summarize_overhead(ref.name, samples, args.epochs)
    report["overhead"] = {"epochs": args.epochs, "repeats": args.repeats, "threads": threads, "rows": rows}


def summarize_overhead(name: str, samples: list[dict], epochs: int) -> dict:
    g = lambda key: median([s["grade"][key] for s in samples])  # noqa: E731
    b = lambda key: median([s["bare"][key] for s in samples])  # noqa: E731
    grade_s, bare_s = g("seconds"), b("seconds")
    overhead_s = median([s["grade"]["seconds"] - s["bare"]["seconds"] for s in samples])
    per_epoch = b("train_seconds") / epochs
    bare_fixed = bare_s - b("train_seconds")
    bare_full = bare_fixed + per_epoch * FULL_EPOCHS
    target = CNN_TARGET if is_cnn(name) else MLP_TARGET
    return {
        "target": target, "samples": samples,
        "grade_seconds": grade_s, "bare_seconds": bare_s, "ratio": median([s["ratio"] for s in samples]),
        "overhead_seconds": overhead_s,
        "grader_side_cpu_seconds": g("cpu_seconds"),
        "min_load_1min": min(min(s["grade"]["load_1min"], s["bare"]["load_1min"]) for s in samples),
        # Where the difference goes (medians):
        "breakdown": {
            "grader_outside_sandbox_s": median([s["grade"]["seconds"] - s["grade"]["wall_seconds"] for s in samples]),
            "sandbox_start_and_load_s": median([s["grade"]["wall_seconds"] - s["grade"]["train_seconds"]
                                                - s["grade"]["predict_seconds"] for s in samples]),
            "bare_start_and_load_s": median([s["bare"]["seconds"] - s["bare"]["train_seconds"]
                                             - s["bare"]["predict_seconds"] for s in samples]),
            "grade_train_s": g("train_seconds"), "bare_train_s": b("train_seconds"),
            "grade_predict_s": g("predict_seconds"), "bare_predict_s": b("predict_seconds"),
        },
        "projected_ratio_30_epochs": (bare_full + overhead_s) / bare_full,
        "bare_seconds_per_epoch": per_epoch,
        "grade_test_accuracy": sorted({s["grade"]["test_accuracy"] for s in samples}),
        "bare_test_accuracy": sorted({s["bare"]["test_accuracy"] for s in samples}),
        "parent_peak_rss_mb": g("parent_peak_rss_mb"),
        "sandbox_peak_rss_mb": g("peak_rss_mb"), "sandbox_peak_memory_mb": g("peak_memory_mb"),
        "bare_peak_rss_mb": b("peak_rss_mb"),
    }


def twenty_submissions(count: int) -> dict[str, Path]:
    refs = references()
    return {f"{refs[i % len(refs)].name}_{i:02d}": refs[i % len(refs)] for i in range(count)}


def result_stamps(ws: Path) -> dict[str, str]:
    stamps = {}
    for path in sorted((ws / "results").glob("*/*.json")):
        stamps[f"{path.parent.name}/{path.stem}"] = json.loads(path.read_text()).get("graded_at", "") + \
            hashlib.sha256(path.read_bytes()).hexdigest()
    return stamps


def section_dvc(args, root: Path, report: dict) -> None:
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


def section_throughput(args, root: Path, prepared: Path, report: dict) -> None:
    refs = references()
    subs = {f"{refs[i % len(refs)].name}_{i:02d}": refs[i % len(refs)] for i in range(args.throughput_n)}
    rows = {}
    ws = None
    for workers in args.worker_counts:
        params = base_params(epochs=args.throughput_epochs, workers=workers, tracks=("mnist",))
        if ws is None:
            ws = make_workspace(root, "throughput", params, subs, prepared_from=prepared)
            warm = base_params(epochs=1, subset={"train": 256, "validation": 64, "hidden": 64}, tracks=("mnist",))
            (ws / "warm.yaml").write_text(yaml.safe_dump(warm, sort_keys=False))
            run(pipeline_cmd("--params", "warm.yaml", "grade", "mnist"), ws)
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        clear_results(ws)
        timed = run(pipeline_cmd("grade", "mnist"), ws)
        rows[workers] = throughput_row(timed, ws, subs)
        rows[workers]["threads_per_worker"] = max(1, CORES // workers)
        log(f"throughput workers={workers}: {timed.seconds:.1f} s for {len(subs)}, {rows[workers]['per_hour']:.0f}/h")
    one = rows[min(rows)]["per_hour"]
    for workers, row in rows.items():
        row["vs_one_worker"] = row["per_hour"] / one
        row["vs_ideal"] = row["per_hour"] / (one * min(workers, CORES))
    skipped = ray_skip_reason(args)
    ray_row = {"note": skipped} if skipped else throughput_on_ray(args, root, ws, subs, rows)
    report["throughput"] = {"n": len(subs), "epochs": args.throughput_epochs, "rows": rows, "ray": ray_row}


def throughput_row(timed: Timed, ws: Path, subs: dict[str, Path]) -> dict:
    results = [read_result(ws, "mnist", name) for name in subs]
    return {"seconds": timed.seconds, "per_hour": len(subs) / timed.seconds * 3600,
            "accuracies": {r["submission"]: r.get("test_accuracy") for r in results},
            "sum_train_seconds": sum(r.get("train_seconds") or 0 for r in results),
            "threads": sorted({r.get("threads") for r in results}, key=str),
            "nodes_used": len({r["node"] for r in results if r.get("node")})}


def throughput_on_ray(args, root: Path, ws: Path, subs: dict[str, Path], local: dict) -> dict:
    """The local rows' N submissions and params, graded on a fresh local Ray cluster of RAY_NODES
    one-CPU nodes. Its start is timed apart: a grader keeps its cluster, so it is not per cohort."""
    params = base_params(epochs=args.throughput_epochs, tracks=("mnist",))
    params["grading"]["ray"]["cpus_per_task"] = 1  # one TensorFlow thread per training, one per node
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    clear_results(ws)
    address = f"127.0.0.1:{free_port()}"
    nodes: list[subprocess.Popen] = []
    started = time.perf_counter()
    try:
        nodes.append(start_ray_node(["--head", f"--port={address.split(':')[1]}", "--include-dashboard=false"],
                                    ws, root / "ray-head.log"))
        for index in range(1, RAY_NODES):
            nodes.append(start_ray_node([f"--address={address}"], ws, root / f"ray-node{index}.log"))
        wait_for_ray_cpus(address, RAY_NODES)
        start_seconds = time.perf_counter() - started
        log(f"throughput ray: {RAY_NODES} node(s) up in {start_seconds:.1f} s, grading {len(subs)} ...")
        timed = run(pipeline_cmd("grade", "mnist", "--executor", "ray", "--ray-address", address), ws)
    except RuntimeError as error:  # an optional row: report it, keep the other figures
        log(f"throughput ray FAILED: {error}")
        return {"nodes": RAY_NODES, "cpus": RAY_NODES, "error": str(error)[-3000:]}
    finally:
        stop_ray_nodes(nodes)
    row = {"nodes": RAY_NODES, "cpus": RAY_NODES, "cluster_start_seconds": start_seconds,
           **throughput_row(timed, ws, subs)}
    one = local[min(local)]["per_hour"]
    row["vs_one_worker"] = row["per_hour"] / one
    row["vs_ideal"] = row["per_hour"] / (one * row["cpus"])
    # Thread counts change float sums, so only local rows with Ray's 1 thread per training compare.
    same_threads = [workers for workers, r in local.items() if r["threads_per_worker"] == 1]
    row["compared_with_workers"] = same_threads
    row["identical_to_local"] = (all(local[w]["accuracies"] == row["accuracies"] for w in same_threads)
                                 if same_threads else None)
    log(f"throughput ray: {timed.seconds:.1f} s for {len(subs)}, {row['per_hour']:.0f}/h on "
        f"{row['nodes_used']} node(s), identical to local {row['identical_to_local']}")
    return row


def section_lever(args, root: Path, prepared: Path, report: dict) -> None:
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


def section_profile(args, root: Path, prepared: Path, report: dict) -> None:
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
                   "import pipeline.grade, pipeline.tracking, pipeline.config"], ws)
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
    ("cmd_grade (everything after imports)", "cmd_grade", "pipeline/__main__.py"),
    ("grade_track (everything below + the wait)", "grade_track", "pipeline/grading/orchestrate.py"),
    ("  hashing (data files, grader code, submissions)", "file_sha256", "pipeline/grading/fingerprints.py"),
    ("  write workdir (np.savez of the public arrays)", "write_workdir", "pipeline/grading/jobs.py"),
    ("  sandbox run (waiting for the trainer)", "run_training", "pipeline/sandbox/runner.py"),
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


# ---------------------------------------------------------------------------------------------
# The table.


def status(ratio, target):
    if ratio is None:
        return "n/a"
    return "OK" if ratio <= 1.0 else "MISSED"


def print_table(report: dict) -> None:
    rows = []  # (figure, value, target, value/target, verdict)

    def add(figure, value, target, ratio_to_target):
        verdict = "-" if ratio_to_target is None else ("OK" if ratio_to_target <= 1.0 else "MISSED")
        rows.append((figure, value, target, "-" if ratio_to_target is None else f"{ratio_to_target:.2f}", verdict))

    pre = report.get("preprocess")
    if pre:
        add("4 preprocess MNIST", f"{pre['mnist']['median_seconds']:.2f} s", "<= 3 s",
            pre["mnist"]["median_seconds"] / PREPROCESS_TARGET)
        add("4 preprocess notMNIST (info)", f"{pre['notmnist']['median_seconds']:.2f} s", "-", None)
    over = report.get("overhead")
    if over:
        for name, row in over["rows"].items():
            add(f"1 overhead {name} ({over['epochs']} ep)",
                f"{row['ratio']:.3f}x ({row['grade_seconds']:.1f}/{row['bare_seconds']:.1f} s)",
                f"<= {row['target']:.2f}x", row["ratio"] / row["target"])
            cpu = median([sample["grade"].get("cpu_seconds") for sample in row["samples"]])
            if cpu is not None:
                # wait4() rusage of `pipeline grade`: parent + bwrap, NOT the trainer (its PID
                # namespace's reaper does not pass it on), so this is the grader-side CPU cost.
                add("  grader-side CPU (parent + bwrap, not trainer)", f"{cpu:.1f} CPU s", "-", None)
            add(f"  projected to {FULL_EPOCHS} epochs", f"{row['projected_ratio_30_epochs']:.3f}x "
                f"(+{row['overhead_seconds']:.1f} s)", f"<= {row['target']:.2f}x",
                row["projected_ratio_30_epochs"] / row["target"])
    noop = report.get("noop")
    if noop:
        add(f"2 no-op dvc repro ({noop['submissions']} subs)", f"{noop['median_seconds']:.2f} s", "<= 5 s",
            noop["median_seconds"] / NOOP_TARGET)
    inc = report.get("incremental")
    if inc:
        add("3 incremental: one re-train per track", str(inc["exactly_one_per_track"]), "True",
            0.0 if inc["exactly_one_per_track"] else 2.0)
        add(f"3 incremental dvc repro / direct grade ({inc.get('epochs', 1)} ep, {inc.get('data', 'tiny subset')})",
            f"{inc['ratio']:.2f}x ({inc['dvc_seconds']:.1f}/"
            f"{inc['direct_grade_seconds']:.1f} s)", "<= 1.2x", inc["ratio"] / INCREMENTAL_TARGET)
        add("  dvc repro / sandbox time of that sub (info)", f"{inc['ratio_to_sandbox_time']:.2f}x", "-", None)
    thr = report.get("throughput")
    if thr:
        for workers, row in thr["rows"].items():
            add(f"5 throughput workers={workers} ({thr['n']} subs, {thr['epochs']} ep)",
                f"{row['per_hour']:.0f}/h, {row['vs_one_worker']:.2f}x of 1 worker", "ideal "
                f"{min(int(workers), CORES)}x", None)
            rows[-1] = rows[-1][:3] + (f"{row['vs_ideal']:.2f} of ideal", "-")
        ray = thr.get("ray") or {}
        label = f"5 throughput ray {ray.get('nodes')} nodes x 1 CPU"
        if "per_hour" in ray:
            same = {True: "identical acc", False: "acc DIFFER", None: "-"}[ray["identical_to_local"]]
            rows.append((f"{label} ({thr['n']} subs, {thr['epochs']} ep)",
                         f"{ray['per_hour']:.0f}/h, {ray['vs_one_worker']:.2f}x of 1 worker", f"ideal {ray['cpus']}x",
                         f"{ray['vs_ideal']:.2f} of ideal", same))
            rows.append(("  ray cluster start (not in the figure)", f"{ray['cluster_start_seconds']:.1f} s", "-",
                         "-", "-"))
        elif "error" in ray:
            rows.append((label, ray["error"].strip().splitlines()[-1][:80], "-", "-", "FAILED"))
        elif ray.get("note"):
            rows.append(("5 throughput ray", ray["note"], "-", "-", "-"))
    if over:
        parent = max(r["parent_peak_rss_mb"] for r in over["rows"].values())
        rows.append(("6 memory: grading parent peak RSS", f"{parent:.0f} MB", "-", "-", "-"))
        for name, row in over["rows"].items():
            rows.append((f"6 memory: sandbox {name}", f"RSS {row['sandbox_peak_rss_mb']:.0f} MB, cgroup "
                         f"{row['sandbox_peak_memory_mb']:.0f} MB", f"bare {row['bare_peak_rss_mb']:.0f} MB",
                         "-", "-"))
    lever = report.get("lever")
    if lever:
        for name, configs in lever["rows"].items():
            for key, row in configs.items():
                rows.append((f"7 lever {name} {key} ({lever['epochs']} ep)",
                             f"train {row['train_seconds']:.1f} s, {row['speed_vs_tf_numpy']:.2f}x speed",
                             f"acc {row['test_accuracy']:.4f}", "-",
                             "bit-identical" if row["bit_identical"] else "NOT bit-identical"))
        if lever.get("note"):
            rows.append(("7 lever", lever["note"], "-", "-", "-"))
    widths = [max(len(str(r[i])) for r in rows + [("figure", "value", "target", "value/target", "verdict")])
              for i in range(5)]
    header = ("figure", "value", "target", "value/target", "verdict")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    profile = report.get("profile")
    if profile and "grade_parent" in profile:
        print(f"\npy-spy, grading parent ({profile['seconds']:.1f} s wall, sandbox "
              f"{profile['sandbox_wall_seconds']:.1f} s):")
        for label, seconds in profile["grade_parent"]["seconds_by_phase"].items():
            print(f"  {seconds:6.2f} s  {label}")
        print("grader imports (-X importtime, cumulative):")
        for name, seconds in profile.get("import_seconds_by_package", {}).items():
            print(f"  {seconds:6.2f} s  import {name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat, smaller throughput and lever")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for the overhead figure (default 5; 30 = real)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3)")
    parser.add_argument("--only", default="preprocess,overhead,noop,throughput,lever,profile",
                        help="comma-separated sections (preprocess is always run: it prepares the data)")
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
    sections = set(args.only.split(","))
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
        prepared = section_preprocess(args, root, report)
        for name, section in (("overhead", section_overhead), ("noop", section_dvc),
                              ("throughput", section_throughput), ("lever", section_lever),
                              ("profile", section_profile)):
            if name in sections:
                started = time.perf_counter()
                if name == "noop":
                    section(args, root, report)
                else:
                    section(args, root, prepared, report)
                report.setdefault("section_seconds", {})[name] = time.perf_counter() - started
                out.write_text(json.dumps(report, indent=2, default=str))  # partial results survive
    finally:
        report["machine"]["load_average_at_end"] = os.getloadavg()
        out.write_text(json.dumps(report, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print_table(report)
    print(f"\nfull results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
