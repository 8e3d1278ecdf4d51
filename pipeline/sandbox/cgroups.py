"""Per-run cgroups that limit a training job's memory, processes/threads and CPU time.

The sandbox puts each job into a child `memory` and `pids` cgroup (v1) of the grader's own cgroup,
so the kernel enforces the limits: the job is stopped at its memory limit without swapping and
without the OOM killer touching the grader, and fork bombs hit pids.max. Where a controller is
not mounted or not writable, its group is None and the sandbox falls back to rlimits plus
polling the process tree (limits.py, supervise.py).

Each job also gets its own CPU quota (v1 `cpu.cfs_quota_us`, or v2 `cpu.max` where the `cpu`
controller lives on the unified hierarchy): one training's share, so a submission that starts
extra threads slows only itself and cannot take CPU time from another's training. Where no cpu
controller is writable there is no quota, and the outcome says so (limits.py).
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
# The CPU quota's accounting period (the kernel's default): each period the job may use
# `cores` times this much CPU time, then it waits for the next period.
CPU_PERIOD_MICROSECONDS = 100_000


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


def _unified_dir() -> Optional[Path]:
    """This process's cgroup on the cgroup v2 (unified) hierarchy, if one is mounted."""
    try:
        own = [line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
               if line.startswith("0::")]
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    if not own:
        return None
    for line in mounts:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or not tail or tail[0] != "cgroup2":
            continue
        mount_root, mount_point, path = fields[3], fields[4], own[0]
        if mount_root != "/":
            if not (path == mount_root or path.startswith(mount_root.rstrip("/") + "/")):
                continue
            path = path[len(mount_root):]
        return Path(mount_point) / path.lstrip("/")
    return None


def cpu_settings(cores: float, version: int) -> list[tuple[str, str]]:
    """The files and values that give a cgroup a quota of `cores` CPUs (v1 or v2)."""
    quota = max(1000, round(cores * CPU_PERIOD_MICROSECONDS))  # the kernel's minimum is 1 ms
    if version == 1:
        # The period first: the quota is checked against it when written.
        return [("cpu.cfs_period_us", str(CPU_PERIOD_MICROSECONDS)), ("cpu.cfs_quota_us", str(quota))]
    return [("cpu.max", f"{quota} {CPU_PERIOD_MICROSECONDS}")]


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
    unified = _unified_dir()
    for parent in [*_controller_dirs().values(), *([unified] if unified is not None else [])]:
        _remove_stale_groups(parent)


class RunCgroups:
    """The memory, pids and cpu cgroups of one run; each is None if it could not be set up.

    `cpu_cores`: the run's CPU quota in cores (None: no cpu group). `cpu_quota_cores` is the quota
    actually set, None when none could be; `cpu_problem` then says why.
    """

    def __init__(self, memory_bytes: int, max_processes: int, enabled: bool = True,
                 cpu_cores: Optional[float] = None):
        self.memory: Optional[Path] = None
        self.pids: Optional[Path] = None
        self.cpu: Optional[Path] = None
        self.cpu_quota_cores: Optional[float] = None
        self.cpu_mechanism: Optional[str] = None  # which file holds the quota
        self.cpu_problem = "no quota was asked for" if cpu_cores is None else "cgroups are turned off"
        self.problems: list[str] = []
        if not enabled:
            return
        name = f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        dirs = _controller_dirs()
        if cpu_cores is not None:
            self._create_cpu(dirs.get("cpu"), name, cpu_cores)
        self.memory = self._create(dirs.get("memory"), name, [
            ("memory.limit_in_bytes", memory_bytes, True),
            # Without swap accounting these two are absent; the limit alone still holds RAM.
            ("memory.memsw.limit_in_bytes", memory_bytes, False),
            ("memory.swappiness", 0, False),
        ], "memory")
        self.pids = self._create(dirs.get("pids"), name, [("pids.max", max_processes, True)], "pids")

    def _create_cpu(self, v1_parent: Optional[Path], name: str, cores: float) -> None:
        """The cpu group: v1 where the cpu controller is mounted as v1, else v2 if it offers cpu."""
        problems_before = len(self.problems)
        if v1_parent is not None:
            settings = [(setting, value, True) for setting, value in cpu_settings(cores, 1)]
            self.cpu = self._create(v1_parent, name, settings, "cpu")
            mechanism = "cgroup v1 cpu.cfs_quota_us"
        else:
            self.cpu = self._create_v2_cpu(_unified_dir(), name, cores)
            mechanism = "cgroup v2 cpu.max"
        if self.cpu is not None:
            self.cpu_quota_cores, self.cpu_mechanism, self.cpu_problem = float(cores), mechanism, None
        else:
            self.cpu_problem = "; ".join(self.problems[problems_before:]) or "no cpu controller"

    def _create_v2_cpu(self, parent: Optional[Path], name: str, cores: float) -> Optional[Path]:
        if parent is None:
            self.problems.append("no cpu controller: neither cgroup v1 nor v2 offers one")
            return None
        try:
            offered = (parent / "cgroup.controllers").read_text().split()
        except OSError as error:
            self.problems.append(f"cannot read {parent / 'cgroup.controllers'}: {error}")
            return None
        if "cpu" not in offered:
            self.problems.append(f"cgroup v2 offers no cpu controller at {parent} (cgroup.controllers)")
            return None
        group = self._new_group(parent, name)
        if group is None:
            return None
        if not (group / "cpu.max").exists():
            # Children get the controller only once the parent hands it down. The kernel refuses
            # that for a group holding processes (the grader's own), unless it is the root.
            try:
                (parent / "cgroup.subtree_control").write_text("+cpu")
            except OSError as error:
                self.problems.append(f"cannot enable the cpu controller in {parent / 'cgroup.subtree_control'} "
                                     f"({error}); run the grader in a cgroup delegated to it")
                self._remove_one(group)
                return None
        for setting, value in cpu_settings(cores, 2):
            try:
                (group / setting).write_text(value)
            except OSError as error:
                self.problems.append(f"cannot write {group / setting}: {error}")
                self._remove_one(group)
                return None
        return group

    def _new_group(self, parent: Path, name: str) -> Optional[Path]:
        """A fresh child group (stale ones of killed graders removed first), or None with the problem noted."""
        _remove_stale_groups(parent)
        group = parent / name
        try:
            group.mkdir()
        except OSError as error:
            self.problems.append(f"cannot create {group}: {error}")
            return None
        return group

    def _create(self, parent: Optional[Path], name: str, settings, controller: str) -> Optional[Path]:
        if parent is None:
            self.problems.append(f"no cgroup v1 {controller} controller mounted")
            return None
        group = self._new_group(parent, name)
        if group is None:
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
        return [group for group in (self.memory, self.pids, self.cpu) if group is not None]

    def add(self, pid: int) -> None:
        """Move `pid` (still blocked before exec) into every group; a failing group is dropped."""
        for attribute in ("memory", "pids", "cpu"):
            group = getattr(self, attribute)
            if group is None:
                continue
            try:
                (group / "cgroup.procs").write_text(str(pid))
            except OSError as error:
                self.problems.append(f"cannot move the job into {group}: {error}")
                self._remove_one(group)
                setattr(self, attribute, None)
                if attribute == "cpu":
                    self.cpu_quota_cores, self.cpu_mechanism = None, None
                    self.cpu_problem = self.problems[-1]

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

    def cpu_throttled_seconds(self) -> Optional[float]:
        """How long the quota held the job back (cpu.stat), or None without a cpu group."""
        if self.cpu is None:
            return None
        stat = _read_keyed(self.cpu / "cpu.stat")
        if "throttled_usec" in stat:  # v2
            return stat["throttled_usec"] / 1e6
        return stat.get("throttled_time", 0) / 1e9  # v1, in nanoseconds

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
        self.memory = self.pids = self.cpu = None
