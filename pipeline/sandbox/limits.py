"""The limits set on a job before it runs: rlimits (backing up a missing cgroup), the disk count.

Memory and the number of processes/threads use a child cgroup (cgroups.py) where the grader's
cgroup allows it, so the kernel stops the submission at the limit. Where cgroups are not writable,
memory falls back to RLIMIT_DATA plus polling the process tree's resident memory, and processes
to RLIMIT_NPROC plus polling the thread count (supervise.py). Each step also gets its own CPU quota
of `threads` cores; where none can be set, the outcome says so and the grader warns once.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import psutil

from pipeline.config import Limits
from pipeline.sandbox.cgroups import RunCgroups


def folder_bytes(folder: Path, limit_entries: int = 100_000) -> int:
    """Bytes of the files under `folder` (a runaway number of entries counts as over any limit)."""
    total, seen = 0, 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit_entries:
                return 1 << 62
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
    return total



def _same_user(process: psutil.Process) -> bool:
    try:
        return process.uids().real == os.getuid()
    except psutil.Error:
        return False


def _task_count(process: psutil.Process) -> int:
    try:
        return process.num_threads()
    except psutil.Error:
        return 0


# The first run without a CPU quota warns (once per grader process, not once per submission).
_WARNED_NO_CPU_QUOTA: list[str] = []


def _cpu_enforcement(cgroups: RunCgroups) -> str:
    """limit_enforcement["cpu"]: the quota's mechanism, or "none: <why>" (and a warning, once)."""
    if cgroups.cpu_quota_cores is not None:
        return f"{cgroups.cpu_mechanism} ({cgroups.cpu_quota_cores:g} cores)"
    if not _WARNED_NO_CPU_QUOTA:
        _WARNED_NO_CPU_QUOTA.append(cgroups.cpu_problem or "")
        print(f"warning: no CPU quota per sandbox ({cgroups.cpu_problem}): trainings share the CPU, so one "
              "submission's threads can slow another's training and inflate its time", file=sys.stderr)
    return f"none: {cgroups.cpu_problem}"


def set_rlimits(pid: int, limits: Limits, cgroups: RunCgroups) -> dict:
    """Limits on the blocked job; the rlimits back up whichever cgroup is missing."""
    enforcement = {"cpu": _cpu_enforcement(cgroups)}
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))  # no multi-gigabyte core files in scratch
    # No single file beyond the disk limit (the kernel stops the write with SIGXFSZ); the total is polled.
    disk = limits.disk_mb * 2**20
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (disk, disk))
    if cgroups.memory is None:
        memory = limits.memory_mb * 2**20
        resource.prlimit(pid, resource.RLIMIT_DATA, (memory, memory))
        enforcement["memory"] = "rlimit_data+rss_polling"
    else:
        enforcement["memory"] = "cgroup"
    if cgroups.pids is None:
        enforcement["processes"] = "polling"
        if os.getuid() != 0:
            # RLIMIT_NPROC counts every task of this user (and the kernel exempts root), so it
            # can only cap what the job adds on top of the user's current tasks.
            current = sum(_task_count(p) for p in psutil.process_iter() if _same_user(p))
            ceiling = current + limits.max_processes
            resource.prlimit(pid, resource.RLIMIT_NPROC, (ceiling, ceiling))
            enforcement["processes"] = "rlimit_nproc+polling"
    else:
        enforcement["processes"] = "cgroup"
    return enforcement

