"""What every figure shares: throw-away workspaces, timed commands, the report's table and JSON."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BARE = BENCH / "bare_train.py"
CORES = os.cpu_count() or 1
CNN_NAMES = ("cnn", "conv")
FULL_EPOCHS = 30  # the MNIST schedule in params.yaml; the overhead is projected onto it
TINY_SUBSET = {"train": 256, "validation": 64, "hidden": 64}  # warm-up runs: creates the MLflow store


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# Workspaces and timed commands.


def references(custom: bool = False) -> list[Path]:
    """The reference submissions; with `custom`, also the bench's custom-layer one (a traced graph)."""
    folders = [REPO / "submissions"] + ([REPO / "bench" / "submissions"] if custom else [])
    return sorted((p for folder in folders for p in folder.iterdir() if (p / "model.py").is_file()),
                  key=lambda p: p.name)


def is_custom(name: str) -> bool:
    return name.startswith("custom_")


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
        for name in (".dvcignore", "requirements.lock"):  # the lock file: a grade dep (package versions)
            if (REPO / name).exists():
                shutil.copy(REPO / name, ws / name)
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
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)  # the workspace's own pipeline/ copy must win
    # Python as an instructor's machine runs it: writing bytecode (__pycache__/, which DVC and the
    # grader fingerprint ignore). Without it every stage compiles pipeline/ from source again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


class Timed:
    """A finished command: wall seconds, exit code, output, the peak RSS of the process itself, and
    the CPU seconds (user + system) of it and its reaped descendants (for `pipeline grade`: the
    grader and bwrap, not the sandboxed trainer, which the sandbox's own PID-1 reaps)."""

    def __init__(self, seconds, returncode, output, peak_rss_mb, cpu_seconds=None, load=None, line_times=()):
        self.seconds, self.returncode, self.output, self.peak_rss_mb = seconds, returncode, output, peak_rss_mb
        self.cpu_seconds, self.load = cpu_seconds, load
        self.line_times = list(line_times)  # (seconds since the start, line) for each output line

    def stage_seconds(self) -> dict[str, float]:
        """For a `dvc repro`: each stage that ran, from its "Running stage" line to the next one (or the end)."""
        starts = [(at, line.split("'")[1]) for at, line in self.line_times if line.startswith("Running stage '")]
        ends = [at for at, _ in starts[1:]] + [self.seconds]
        return {stage: end - at for (at, stage), end in zip(starts, ends)}


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
    chunks, line_times = [], []
    for line in process.stdout:
        chunks.append(line)
        line_times.append((time.perf_counter() - started, line.decode("utf-8", "replace").rstrip()))
    output = b"".join(chunks)
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
                 usage.ru_utime + usage.ru_stime, load, line_times)


def pipeline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def bare_cmd(prepared: Path, submission: Path, schedule: dict, threads: int, python: str = sys.executable,
             input_pipeline: str = "numpy", out: Path | None = None, lean_import: bool = False) -> list[str]:
    command = [python, str(BARE), str(prepared), str(submission), "--epochs", str(schedule["epochs"]),
               "--threads", str(threads), "--seed", str(schedule["seed"]), "--batch-size",
               str(schedule["batch_size"]), "--lr", str(schedule["learning_rate"]), "--scaling",
               schedule["scaling"], "--input", input_pipeline]
    return command + (["--out", str(out)] if out else []) + (["--lean-import"] if lean_import else [])


def bare_env(schedule: dict, threads: int, backend: str = "tensorflow") -> dict:
    # What the sandbox sets for the trainer: same hash seed, OpenMP threads, oneDNN kernels and log
    # level, so the ratio is the grader's overhead (the kernel cap's own cost is measured apart).
    return environment({"PYTHONHASHSEED": str(schedule["seed"]), "OMP_NUM_THREADS": str(threads),
                        "ONEDNN_MAX_CPU_ISA": "AVX2", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": backend})


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
# The table: each figure module adds (figure, value, target, value/target, verdict) rows.


def row(figure, value, target, ratio_to_target) -> tuple:
    """A table row whose verdict follows from value/target (None: an informational row)."""
    verdict = "-" if ratio_to_target is None else ("OK" if ratio_to_target <= 1.0 else "MISSED")
    return (figure, value, target, "-" if ratio_to_target is None else f"{ratio_to_target:.2f}", verdict)


def print_rows(rows: list[tuple]) -> None:
    header = ("figure", "value", "target", "value/target", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))


def write_report(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=2, default=str))
