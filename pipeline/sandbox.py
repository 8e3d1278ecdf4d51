"""Run one submission's training job in a child process with limits.

The parent never imports student code: it starts `python -m pipeline.train` in a child, streams
its output into a bounded log, enforces the wall-time and memory limits by watching the child's
whole process tree, and reports what happened. Results come back through files in the workdir.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import psutil

from pipeline.config import Limits

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds pipeline/
POLL_SECONDS = 0.05


@dataclass
class RunOutcome:
    returncode: Optional[int]  # negative = killed by that signal
    timed_out: bool
    out_of_memory: bool
    wall_seconds: float
    peak_rss_mb: float
    log_tail: str


def child_environment(workdir: Path, threads: int, seed: int) -> dict[str, str]:
    """A clean environment: nothing of the caller's (tokens, keys) reaches student code."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "PYTHONPATH": str(PACKAGE_ROOT),
        "PYTHONHASHSEED": str(seed),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": str(threads),
        "KERAS_HOME": str(home / ".keras"),
        "MPLCONFIGDIR": str(home),
    }


def _tree_rss_bytes(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass  # a child that exited between listing and reading
    return total


def _kill_group(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_training(
    submission_dir: Path,
    workdir: Path,
    limits: Limits,
    threads: int,
    seed: int,
    on_line: Optional[Callable[[str], None]] = None,
) -> RunOutcome:
    """Run `pipeline.train` for one submission and enforce the track's limits."""
    command = [sys.executable, "-m", "pipeline.train", str(submission_dir), str(workdir)]
    started = time.monotonic()
    popen = subprocess.Popen(
        command,
        cwd=workdir,
        env=child_environment(workdir, threads, seed),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so we can kill everything it started
    )
    tail: collections.deque[bytes] = collections.deque()
    tail_size = [0]

    def pump_output() -> None:
        # Keep only the last log_tail_bytes: a submission printing 100 MB must not fill memory.
        for raw_line in popen.stdout:
            tail.append(raw_line)
            tail_size[0] += len(raw_line)
            while tail_size[0] > limits.log_tail_bytes and len(tail) > 1:
                tail_size[0] -= len(tail.popleft())
            if on_line is not None:
                on_line(raw_line.decode("utf-8", "replace").rstrip())

    reader = threading.Thread(target=pump_output, daemon=True)
    reader.start()
    watched = psutil.Process(popen.pid)
    timed_out = out_of_memory = False
    peak_rss = 0
    memory_limit = limits.memory_mb * 1024 * 1024
    while popen.poll() is None:
        rss = _tree_rss_bytes(watched)
        peak_rss = max(peak_rss, rss)
        if rss > memory_limit:
            out_of_memory = True
            _kill_group(popen)
        elif time.monotonic() - started > limits.wall_seconds:
            timed_out = True
            _kill_group(popen)
        time.sleep(POLL_SECONDS)
    _kill_group(popen)  # leftovers the student may have spawned
    reader.join(timeout=5)
    log = b"".join(tail)[-limits.log_tail_bytes:].decode("utf-8", "replace")
    return RunOutcome(
        returncode=popen.returncode,
        timed_out=timed_out,
        out_of_memory=out_of_memory,
        wall_seconds=time.monotonic() - started,
        peak_rss_mb=peak_rss / 2**20,
        log_tail=log,
    )
