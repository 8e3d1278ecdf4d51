"""Figure 5: N submissions with grading.workers = 1 and 2: submissions/hour, vs one worker and the
ideal; then (if Ray is installed, unless --no-ray) the same N on a local Ray cluster of up to 2
one-CPU nodes (`--executor ray`): same figures, cluster start reported apart, and whether its
accuracies equal the local rows' with the same threads per training."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

from bench.common import (CORES, TINY_SUBSET, Timed, base_params, clear_results, environment, log, make_workspace,
                          pipeline_cmd, read_result, references, run)

RAY = Path(sys.executable).parent / "ray"
RAY_NODES = min(CORES, 2)  # one-CPU nodes of the throughput cluster: as many CPUs as the local rows
RAY_NODE_FLAGS = ["--num-cpus=1", "--object-store-memory=150000000", "--node-ip-address=127.0.0.1",
                  "--disable-usage-stats"]
RAY_READY = "block forever"  # what `ray start --block` prints once its node is up


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
# The figure.


def section(args, root: Path, prepared: Path, report: dict) -> None:
    refs = references()
    subs = {f"{refs[i % len(refs)].name}_{i:02d}": refs[i % len(refs)] for i in range(args.throughput_n)}
    rows = {}
    ws = None
    for workers in args.worker_counts:
        params = base_params(epochs=args.throughput_epochs, workers=workers, tracks=("mnist",))
        if ws is None:
            ws = make_workspace(root, "throughput", params, subs, prepared_from=prepared)
            warm = base_params(epochs=1, subset=TINY_SUBSET, tracks=("mnist",))
            (ws / "warm.yaml").write_text(yaml.safe_dump(warm, sort_keys=False))
            run(pipeline_cmd("--params", "warm.yaml", "grade", "mnist"), ws)
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        clear_results(ws)
        timed = run(pipeline_cmd("grade", "mnist"), ws)
        rows[workers] = throughput_row(timed, ws, subs)
        rows[workers]["threads_per_worker"] = params["tracks"]["mnist"]["schedule"].get("threads", 1)
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


def rows(report: dict) -> list[tuple]:
    thr = report.get("throughput")
    if not thr:
        return []
    rows = []
    for workers, measured in thr["rows"].items():
        rows.append((f"5 throughput workers={workers} ({thr['n']} subs, {thr['epochs']} ep)",
                     f"{measured['per_hour']:.0f}/h, {measured['vs_one_worker']:.2f}x of 1 worker",
                     f"ideal {min(int(workers), CORES)}x", f"{measured['vs_ideal']:.2f} of ideal", "-"))
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
    return rows
