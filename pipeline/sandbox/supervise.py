"""Running one job and watching it: the gate, the wall clock, polling, the output tail, the kill registry.

The job starts blocked behind a gate until its cgroups and rlimits are in place, so nothing
escapes the limits. Wall time is polled, and so are memory and processes where no cgroup
enforces them. Output is kept as a bounded tail. Every job's process group is registered, so an
interrupted grader stops them all at once (kill_running_jobs).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import psutil

from pipeline.config import Limits
from pipeline.sandbox import limits as job_limits
from pipeline.sandbox.cgroups import RunCgroups

# How often the job is watched. With memory and pids cgroups the kernel enforces those limits and
# polling only records the peak RSS and checks the wall clock and the pids-limit flag, so it can be
# slow (walking the process tree every 50 ms cost ~5% of a core). Without them the polling itself
# enforces the limits (RLIMIT_DATA/NPROC are only approximate), so it must stay fast.
POLL_SECONDS_WITH_CGROUPS = 0.5
POLL_SECONDS_FALLBACK = 0.05

# The job starts blocked in this tiny shell until the grader has put it into its cgroups and set
# its rlimits, then replaces itself with the real command, so nothing escapes the limits.
GATE_SCRIPT = 'read -r _ || exit 97; exec "$@" </dev/null'
GATE_NOT_RELEASED = 97


@dataclass
class RunOutcome:
    returncode: Optional[int]  # negative = killed by that signal
    timed_out: bool
    out_of_memory: bool
    wall_seconds: float
    peak_rss_mb: float  # resident memory summed over the process tree (shared pages count twice)
    log_tail: str
    too_many_processes: bool = False
    out_of_disk: bool = False
    peak_memory_mb: Optional[float] = None  # the memory cgroup's peak: what memory_mb limits
    sandboxed: bool = True
    limit_enforcement: dict = field(default_factory=dict)  # which mechanism enforced what
    # The step's own CPU quota in cores (the track's schedule.threads); None: none could be set,
    # and limit_enforcement["cpu"] says why.
    cpu_quota_cores: Optional[float] = None

    @property
    def stopped(self) -> bool:
        """Whether the grader stopped the job at a limit (its own ending, if any, does not count)."""
        return self.timed_out or self.out_of_memory or self.too_many_processes or self.out_of_disk



def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def _tree_usage(process: psutil.Process) -> tuple[int, int]:
    """(resident bytes, threads) summed over the process tree."""
    rss = threads = 0
    for member in _tree(process):
        try:
            with member.oneshot():
                rss += member.memory_info().rss
                threads += member.num_threads()
        except psutil.Error:
            pass  # a child that exited between listing and reading
    return rss, threads


# The process groups of the jobs running now, so an interrupted grader can stop them at once.
_RUNNING: set[int] = set()


def kill_running_jobs() -> None:
    """Kill every job this process is running (before it exits on Ctrl-C or SIGTERM)."""
    for pgid in list(_RUNNING):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_group(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class OutputTail:
    """Reads the job's output in chunks and keeps only the last `limit` bytes.

    Chunks rather than lines: a submission printing 100 MB without a newline must not make the
    grader hold it in memory. Complete lines go to `on_line` (for progress); overlong lines are cut.
    """

    MAX_LINE = 4096

    def __init__(self, stream, limit: int, on_line: Optional[Callable[[str], None]]):
        self.stream, self.limit, self.on_line = stream, limit, on_line
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.total = 0
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        pending = b""
        fd = self.stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size - len(self.chunks[0]) >= self.limit:
                self.size -= len(self.chunks.popleft())
            if self.on_line is not None:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                pending = pending[-self.MAX_LINE:]
                for line in lines:
                    self.on_line(line[:self.MAX_LINE].decode("utf-8", "replace").rstrip())

    def text(self) -> str:
        self.thread.join(timeout=5)
        kept = b"".join(self.chunks)[-self.limit:]
        dropped = self.total - len(kept)
        if dropped > 0:
            kept = kept[kept.find(b"\n") + 1:] if b"\n" in kept[:1000] else kept
            header = f"[gradebench: {self.total - len(kept):,} earlier bytes of output were dropped]\n"
            return header + kept.decode("utf-8", "replace")
        return kept.decode("utf-8", "replace")



class HandOver:
    """A job started before its submission was known (its imports overlap the previous job): the
    wall-time limit and the reported wall time count from `give()`, when it gets its submission;
    `cancel()` stops a job that is never handed one."""

    def __init__(self):
        self.at: Optional[float] = None  # time.monotonic() of the hand-over
        self.cancelled = False

    def give(self) -> None:
        self.at = time.monotonic()

    def cancel(self) -> None:
        self.cancelled = True


def run_gated(command: list[str], workdir: Path, environment: dict[str, str], pass_fds: tuple[int, ...],
              limits: Limits, cgroups: RunCgroups, written: list[Path],
              on_line: Optional[Callable[[str], None]] = None, hand_over: Optional[HandOver] = None) -> RunOutcome:
    """Start `command` behind the gate, put it under `cgroups` and the rlimits, then watch it until it
    ends or breaks a limit (then its whole process group is killed). `written`: the host folders the
    job can write, polled against limits.disk_mb. The returncode is the raw one: the caller reads
    bwrap's own status. `cgroups` is removed on return."""
    memory_limit, disk_limit = limits.memory_mb * 2**20, limits.disk_mb * 2**20
    started = time.monotonic()
    try:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", GATE_SCRIPT, "gradebench-gate", *command],
            cwd=workdir,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            start_new_session=True,  # its own process group, so we can kill everything it started
        )
    except BaseException:
        cgroups.remove()
        raise
    _RUNNING.add(popen.pid)
    try:
        cgroups.add(popen.pid)
        enforcement = job_limits.set_rlimits(popen.pid, limits, cgroups)
        # Release the gate: the job now execs with its limits in place.
        popen.stdin.write(b"go\n")
        popen.stdin.close()
    except BaseException:
        _kill_group(popen)
        _RUNNING.discard(popen.pid)
        popen.wait()
        cgroups.remove()
        raise
    tail = OutputTail(popen.stdout, limits.log_tail_bytes, on_line)
    try:
        watched: Optional[psutil.Process] = psutil.Process(popen.pid)
    except psutil.Error:
        watched = None  # already gone
    timed_out = out_of_memory = too_many_processes = out_of_disk = False
    peak_rss = 0
    kernel_enforced = cgroups.memory is not None and cgroups.pids is not None
    interval = POLL_SECONDS_WITH_CGROUPS if kernel_enforced else POLL_SECONDS_FALLBACK
    job_started = (lambda: started) if hand_over is None else (lambda: hand_over.at)
    try:
        while popen.poll() is None:
            if hand_over is not None and hand_over.cancelled:
                break
            rss, thread_count = _tree_usage(watched) if watched is not None else (0, 0)
            peak_rss = max(peak_rss, rss)
            if cgroups.memory is None and rss > memory_limit:
                out_of_memory = True
                break
            if cgroups.process_limit_hit() or (cgroups.pids is None and thread_count > limits.max_processes):
                too_many_processes = True
                break
            if job_started() is not None and time.monotonic() - job_started() > limits.wall_seconds:
                timed_out = True
                break
            if sum(job_limits.folder_bytes(folder) for folder in written) > disk_limit:
                out_of_disk = True
                break
            # Waiting on the job rather than sleeping notices its end at once, not an interval later.
            try:
                popen.wait(timeout=interval)
            except subprocess.TimeoutExpired:
                pass
    finally:
        _kill_group(popen)  # the sandbox (its PID namespace dies with it) or the plain job's group
        _RUNNING.discard(popen.pid)
        cgroups.kill_all()  # anything that left the process group
        popen.wait()
        wall_seconds = time.monotonic() - (job_started() or time.monotonic())
        log = tail.text()
        popen.stdout.close()
        if cgroups.oom_killed():
            out_of_memory = True
        if cgroups.process_limit_hit():
            too_many_processes = True  # e.g. a fork bomb whose first process gave up and exited
        if popen.returncode is not None and sum(job_limits.folder_bytes(folder) for folder in written) > disk_limit:
            out_of_disk = True
        peak_memory_mb = cgroups.memory_peak_mb()
        enforcement["cgroup_problems"] = cgroups.problems
        enforcement["cpu_throttled_seconds"] = cgroups.cpu_throttled_seconds()
        cgroups.remove()
    return RunOutcome(
        returncode=popen.returncode, timed_out=timed_out, out_of_memory=out_of_memory,
        wall_seconds=wall_seconds, peak_rss_mb=peak_rss / 2**20, log_tail=log,
        too_many_processes=too_many_processes, out_of_disk=out_of_disk, peak_memory_mb=peak_memory_mb,
        limit_enforcement=enforcement, cpu_quota_cores=cgroups.cpu_quota_cores,
    )
