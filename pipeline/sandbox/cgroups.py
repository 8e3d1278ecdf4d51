"""Per-run cgroups (v1) that limit a training job's memory and number of processes/threads.

The sandbox puts each job into a child `memory` and `pids` cgroup of the grader's own cgroup, so
the kernel enforces the limits: the job is stopped at its memory limit without swapping and
without the OOM killer touching the grader, and fork bombs hit pids.max. Where a controller is
not mounted or not writable, its group is None and the runner falls back to rlimits plus
polling the process tree (runner.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Optional

import psutil

# Group names are gradebench-<grader pid>-<random>, so stale groups of dead graders can be found.
CGROUP_PREFIX = "gradebench-"


def _controller_dirs() -> dict[str, Path]:
    """{controller: directory of this process's cgroup} for every mounted cgroup v1 controller."""
    try:
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                if controller:
                    own[controller] = path
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in mounts:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        mount_root, mount_point = fields[3], fields[4]
        for controller in tail[2].split(","):
            if controller not in own or controller in found:
                continue
            path = own[controller]
            if mount_root != "/":
                if not (path == mount_root or path.startswith(mount_root.rstrip("/") + "/")):
                    continue
                path = path[len(mount_root):]
            found[controller] = Path(mount_point) / path.lstrip("/")
    return found


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


def _read_keyed(path: Path) -> dict[str, int]:
    """Files like memory.oom_control / pids.events: one `name value` per line."""
    values = {}
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                values[name] = int(value)
            elif value.strip() == "max":
                values[name] = -1
    except OSError:
        pass
    return values


def _remove_stale_groups(parent: Path) -> None:
    """Groups left by a grader that was killed (its pid is gone and the group is empty)."""
    for stale in parent.glob(f"{CGROUP_PREFIX}*"):
        owner = stale.name[len(CGROUP_PREFIX):].split("-")[0]
        if owner.isdigit() and int(owner) != os.getpid() and not psutil.pid_exists(int(owner)):
            try:
                stale.rmdir()
            except OSError:
                pass


def remove_stale_groups() -> None:
    """Every controller's groups left by dead graders (see leftovers.py)."""
    for parent in _controller_dirs().values():
        _remove_stale_groups(parent)


class RunCgroups:
    """The memory and pids cgroups of one run; each is None if it could not be set up."""

    def __init__(self, memory_bytes: int, max_processes: int, enabled: bool = True):
        self.memory: Optional[Path] = None
        self.pids: Optional[Path] = None
        self.problems: list[str] = []
        if not enabled:
            return
        name = f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        dirs = _controller_dirs()
        self.memory = self._create(dirs.get("memory"), name, [
            ("memory.limit_in_bytes", memory_bytes, True),
            # Without swap accounting these two are absent; the limit alone still holds RAM.
            ("memory.memsw.limit_in_bytes", memory_bytes, False),
            ("memory.swappiness", 0, False),
        ])
        self.pids = self._create(dirs.get("pids"), name, [("pids.max", max_processes, True)])

    def _create(self, parent: Optional[Path], name: str, settings) -> Optional[Path]:
        if parent is None:
            self.problems.append("no cgroup v1 controller mounted")
            return None
        _remove_stale_groups(parent)
        group = parent / name
        try:
            group.mkdir()
        except OSError as error:
            self.problems.append(f"cannot create {group}: {error}")
            return None
        for setting, value, required in settings:
            try:
                (group / setting).write_text(str(value))
            except OSError as error:
                if required:
                    self.problems.append(f"cannot write {group / setting}: {error}")
                    self._remove_one(group)
                    return None
        return group

    @property
    def groups(self) -> list[Path]:
        return [group for group in (self.memory, self.pids) if group is not None]

    def add(self, pid: int) -> None:
        """Move `pid` (still blocked before exec) into every group; a failing group is dropped."""
        for attribute in ("memory", "pids"):
            group = getattr(self, attribute)
            if group is None:
                continue
            try:
                (group / "cgroup.procs").write_text(str(pid))
            except OSError as error:
                self.problems.append(f"cannot move the job into {group}: {error}")
                self._remove_one(group)
                setattr(self, attribute, None)

    def oom_killed(self) -> bool:
        if self.memory is None:
            return False
        control = _read_keyed(self.memory / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"] > 0
        return control.get("under_oom", 0) > 0 or _read_int(self.memory / "memory.failcnt") > 0

    def memory_peak_mb(self) -> Optional[float]:
        if self.memory is None:
            return None
        return _read_int(self.memory / "memory.max_usage_in_bytes") / 2**20

    def process_limit_hit(self) -> bool:
        """True once a fork or thread creation failed because of pids.max."""
        return self.pids is not None and _read_keyed(self.pids / "pids.events").get("max", 0) > 0

    def kill_all(self) -> None:
        """SIGKILL everything left in the groups (processes that escaped the process group)."""
        for _ in range(100):
            pids = set()
            for group in self.groups:
                try:
                    pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
                except (OSError, ValueError):
                    pass
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    @staticmethod
    def _remove_one(group: Path) -> bool:
        for _ in range(250):  # processes may take a moment to leave after SIGKILL
            try:
                group.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def remove(self) -> None:
        self.kill_all()
        for group in self.groups:
            if not self._remove_one(group):
                print(f"warning: could not remove cgroup {group}; remove it with rmdir", file=sys.stderr)
        self.memory = self.pids = None
