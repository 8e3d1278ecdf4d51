"""Run one submission's training job isolated from the grader, with limits.

The grader never imports student code. It starts `python -m pipeline.sandbox.trainer` inside a bubblewrap
(`bwrap`) sandbox that sees only:

    /usr, /bin, /lib, /lib64, a few /etc files   system files, read-only
    the Python environment                       sys.prefix and sys.base_prefix, read-only
    /opt/gradebench/pipeline                     this package, read-only
    /submission                                  the submission's own folder, read-only
    /scratch                                     the workdir: job and input arrays (read-only),
                                                 out/, home/ and tmp/ (read-write)

and nothing else: no repository, no data/ (so no hidden labels), no results/, no MLflow store,
no other submission, no caller's home or environment variables. It runs in new user, mount,
PID, network, IPC, UTS and cgroup namespaces as an unprivileged user with every capability
dropped, so it has no network (only its own loopback) and cannot signal anything outside.

Limits are enforced from outside. Memory and the number of processes/threads use a child
cgroup (v1 `memory` and `pids` controllers; see cgroups.py) of the grader's own cgroup,
so the kernel stops the submission at the limit without swapping or its OOM killer touching the
grader. Where cgroups are not writable, memory falls back to RLIMIT_DATA plus polling the
process tree's resident memory, and processes to RLIMIT_NPROC plus polling the thread count.
Each step also gets its own CPU quota of `threads` cores (cgroups.py), so no submission can slow
another's training or inflate its time; where none can be set, the outcome says so
(`cpu_quota_cores` None) and the grader warns once. Wall time is polled. Output is kept as a
bounded tail. Results come back through files in the workdir.

Where bubblewrap is missing, isolation.py decides (once, from the driver's policy) whether to
refuse or to run the job as a plain child process (limits still apply) with a loud warning.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import psutil

from pipeline.config import Limits
from pipeline.sandbox import exchange
from pipeline.sandbox.cgroups import RunCgroups
from pipeline.sandbox.isolation import Isolation, SandboxError, hardened_bwrap_flags

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds pipeline/
# How often the job is watched. With memory and pids cgroups the kernel enforces those limits and
# polling only records the peak RSS and checks the wall clock and the pids-limit flag, so it can be
# slow (walking the process tree every 50 ms cost ~5% of a core). Without them the polling itself
# enforces the limits (RLIMIT_DATA/NPROC are only approximate), so it must stay fast.
POLL_SECONDS_WITH_CGROUPS = 0.5
POLL_SECONDS_FALLBACK = 0.05

# The vector instructions every training's kernels may use (x86-64; see sandbox_environment).
PINNED_CPU_ISA = "AVX2"

# Where things appear inside the sandbox.
SANDBOX_PACKAGE_ROOT = "/opt/gradebench"
SANDBOX_SUBMISSION = "/submission"
SANDBOX_SCRATCH = "/scratch"
# The entry point run inside the sandbox: the only code that shares a process with student code.
TRAINER_MODULE = "pipeline.sandbox.trainer"
# System paths bound read-only when they exist (symlinks such as Debian's /bin -> usr/bin are
# recreated as symlinks). /etc is not bound whole: only what the dynamic loader and fonts need.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_PATHS = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts")
# The marker bubblewrap puts in front of its own errors (a setup failure is the pipeline's fault).
BWRAP_ERROR_PREFIX = "bwrap:"


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


# ---------------------------------------------------------------------------------------------
# The command and environment of one run.


def sandbox_environment(home: str, tmp: str, package_root: str, threads: int, seed: int,
                        path: str) -> dict[str, str]:
    """A clean environment: nothing of the caller's (tokens, keys) reaches student code."""
    return {
        "PATH": path,
        "HOME": home,
        "TMPDIR": tmp,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "PYTHONPATH": package_root,
        "PYTHONHASHSEED": str(seed),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",  # the working directory is not put on sys.path
        # TensorFlow's C++ and absl logging off: a student's log shows their model, epochs and
        # prints, never "oneDNN custom operations are on" (its start-up lines: pipeline.sandbox.trainer.quiet_logs).
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "GLOG_minloglevel": "3",
        "ABSL_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": str(threads),
        # oneDNN picks its kernels by the CPU's vector instructions at run time, and kernels for
        # other instructions sum in another order: capped here, an AVX-512 machine computes what an
        # AVX2 machine does (docs/architecture: what is and is not guaranteed across machines).
        "ONEDNN_MAX_CPU_ISA": PINNED_CPU_ISA,
        "KERAS_HOME": f"{home}/.keras",
        "MPLCONFIGDIR": home,
    }


def child_environment(workdir: Path, threads: int, seed: int) -> dict[str, str]:
    """The environment of an unsandboxed job (paths on the host)."""
    home, tmp = _make_home(workdir)
    return sandbox_environment(str(home), str(tmp), str(PACKAGE_ROOT), threads, seed,
                               f"{Path(sys.executable).parent}:/usr/bin:/bin")


def _make_home(workdir: Path) -> tuple[Path, Path]:
    """HOME and TMPDIR of an unsandboxed job, on the host (the disk limit is polled there)."""
    home, tmp = workdir / "home", workdir / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    return home, tmp


def _make_output(workdir: Path, step: str) -> Path:
    output = workdir / STEP_OUTPUT[step]
    output.mkdir(exist_ok=True)
    return output


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


def python_paths() -> list[Path]:
    """The directories the Python environment needs: prefixes, their real paths, the executable's."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))]
    paths: list[Path] = []
    for candidate in candidates:
        for path in (Path(candidate), Path(os.path.realpath(candidate))):
            if not any(path == kept or kept in path.parents for kept in paths):
                paths = [kept for kept in paths if path not in kept.parents] + [path]
    return paths


def _system_binds() -> list[str]:
    arguments: list[str] = []
    for name in SYSTEM_PATHS:
        if os.path.islink(name):
            arguments += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            arguments += ["--ro-bind", name, name]
    for name in ETC_PATHS:
        arguments += ["--ro-bind-try", name, name]
    return arguments


# What each step may write (on the host, under the scratch folder) and which inputs it sees.
STEP_OUTPUT = {"build": exchange.BUILD_DIR, "train": exchange.OUT_DIR}
# The build step, the only one running student code, sees no data: the input shape and class count
# in its own control folder, and the submission. The train step never sees the submission.
STEP_INPUTS = {"build": (exchange.BUILD_CONTROL_DIR,),
               "train": (exchange.PUBLIC_FILE, exchange.HIDDEN_X_FILE, exchange.BUILD_DIR,
                         exchange.CONTROL_DIR)}


def bwrap_command(isolation: Isolation, step: str, submission_dir: Path, workdir: Path, threads: int, seed: int,
                  disk_bytes: int, status_fd: int) -> list[str]:
    """The full bwrap command line that runs one step of the trainer on one submission.

    The scratch folder is not bound whole: the step's inputs are bound read-only (the train step
    also reads the build step's output) and only its own output folder is writable on the host.
    HOME and TMPDIR live in the sandbox's /tmp, a tmpfs of `disk_bytes` that vanishes with it.
    """
    submission_dir, workdir = submission_dir.resolve(), workdir.resolve()
    environment_paths = python_paths()
    for path in environment_paths:
        # A Python installed at / or inside the submissions' folder would expose far too much.
        if path == Path("/") or path == submission_dir or path in submission_dir.parents:
            raise SandboxError(f"cannot sandbox: the Python environment at {path} contains {submission_dir}; "
                               "use a virtualenv outside the submissions' folder")
    _make_output(workdir, step)
    home, tmp = "/tmp/home", "/tmp"
    python = sys.executable if os.path.isabs(sys.executable) else os.path.abspath(sys.executable)
    environment = sandbox_environment(home, tmp, SANDBOX_PACKAGE_ROOT, threads, seed,
                                      f"{Path(python).parent}:/usr/bin:/bin")
    arguments = [isolation.bwrap, *hardened_bwrap_flags(),
                 *(flag for flag in isolation.bwrap_options if flag != "--size"),
                 "--hostname", "sandbox", "--json-status-fd", str(status_fd), "--clearenv"]
    for name, value in environment.items():
        arguments += ["--setenv", name, value]
    arguments += _system_binds()
    arguments += ["--proc", "/proc", "--dev", "/dev"]
    # A private /tmp holding HOME and TMPDIR: in memory (charged to the memory limit too), at most
    # limits.disk_mb, and gone with the sandbox.
    if "--size" in isolation.bwrap_options:
        arguments += ["--size", str(disk_bytes)]
    arguments += ["--tmpfs", "/tmp", "--dir", home]
    for path in environment_paths:
        arguments += ["--ro-bind", str(path), str(path)]
    arguments += ["--ro-bind", str(PACKAGE_ROOT / "pipeline"), f"{SANDBOX_PACKAGE_ROOT}/pipeline"]
    if step == "build":
        arguments += ["--ro-bind", str(submission_dir), SANDBOX_SUBMISSION]
    for name in STEP_INPUTS[step]:
        if (workdir / name).exists():
            arguments += ["--ro-bind", str(workdir / name), f"{SANDBOX_SCRATCH}/{name}"]
    arguments += ["--bind", str(workdir / STEP_OUTPUT[step]), f"{SANDBOX_SCRATCH}/{STEP_OUTPUT[step]}"]
    # The sandbox's own root (a tmpfs holding the mount points) is made read-only last.
    arguments += ["--remount-ro", "/", "--chdir", SANDBOX_SCRATCH, "--",
                  python, "-m", TRAINER_MODULE, step, SANDBOX_SUBMISSION, SANDBOX_SCRATCH]
    return arguments


# The job starts blocked in this tiny shell until the grader has put it into its cgroups and set
# its rlimits, then replaces itself with the real command, so nothing escapes the limits.
GATE_SCRIPT = 'read -r _ || exit 97; exec "$@" </dev/null'
GATE_NOT_RELEASED = 97


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


def _set_rlimits(pid: int, limits: Limits, cgroups: RunCgroups) -> dict:
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


# ---------------------------------------------------------------------------------------------
# Running and watching one job.


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


def _bwrap_returncode(returncode: Optional[int]) -> Optional[int]:
    """bwrap exits with 128+N when its child died of signal N; report that as -N like Popen does."""
    if returncode is not None and 128 < returncode < 128 + 65:
        return -(returncode - 128)
    return returncode


def _read_status(status_file) -> dict:
    """bwrap's --json-status-fd output: JSON objects, one per line (child-pid, then exit-code)."""
    status: dict = {}
    with status_file:
        status_file.seek(0)
        text = status_file.read().decode("utf-8", "replace")
    for line in text.splitlines():
        try:
            status.update(json.loads(line))
        except ValueError:
            pass
    return status


def run_training(
    step: str,
    submission_dir: Path,
    workdir: Path,
    limits: Limits,
    threads: int,
    seed: int,
    isolation: Isolation,
    on_line: Optional[Callable[[str], None]] = None,
    hand_over: Optional[HandOver] = None,
) -> RunOutcome:
    """Run one step of the trainer ("build" or "train") for one submission in the sandbox and
    enforce the track's limits. The step's CPU quota is `threads` cores (one training's share).

    `isolation` comes from `isolation.choose_isolation` (called once per grading run). With
    `hand_over`, the step starts before its submission is known: see HandOver.
    """
    memory_limit, disk_limit = limits.memory_mb * 2**20, limits.disk_mb * 2**20
    workdir = workdir.resolve()
    # bwrap reports the job's exit code through this file, which the sandbox cannot reach.
    status_file = tempfile.TemporaryFile(prefix="gradebench-bwrap-status-") if isolation.sandboxed else None
    if isolation.sandboxed:
        try:
            command = bwrap_command(isolation, step, submission_dir, workdir, threads, seed, disk_limit,
                                    status_file.fileno())
        except BaseException:
            status_file.close()
            raise
        environment = {"PATH": "/usr/bin:/bin"}
        pass_fds = (status_file.fileno(),)
    else:
        command = [sys.executable, "-m", TRAINER_MODULE, step, str(submission_dir.resolve()), str(workdir)]
        environment = child_environment(workdir, threads, seed)
        _make_output(workdir, step)
        pass_fds = ()
    # What the step can write on the host: polled against limits.disk_mb.
    written = [workdir / STEP_OUTPUT[step]] if isolation.sandboxed else [workdir / STEP_OUTPUT[step],
                                                                          workdir / "home", workdir / "tmp"]

    cgroups = RunCgroups(memory_limit, limits.max_processes, enabled=isolation.use_cgroups, cpu_cores=threads)
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
        if status_file is not None:
            status_file.close()
        cgroups.remove()
        raise
    _RUNNING.add(popen.pid)
    try:
        cgroups.add(popen.pid)
        enforcement = _set_rlimits(popen.pid, limits, cgroups)
        # Release the gate: the job now execs with its limits in place.
        popen.stdin.write(b"go\n")
        popen.stdin.close()
    except BaseException:
        _kill_group(popen)
        _RUNNING.discard(popen.pid)
        popen.wait()
        cgroups.remove()
        if status_file is not None:
            status_file.close()
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
            if sum(folder_bytes(folder) for folder in written) > disk_limit:
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
        if popen.returncode is not None and sum(folder_bytes(folder) for folder in written) > disk_limit:
            out_of_disk = True
        peak_memory_mb = cgroups.memory_peak_mb()
        enforcement["cgroup_problems"] = cgroups.problems
        enforcement["cpu_throttled_seconds"] = cgroups.cpu_throttled_seconds()
        cgroups.remove()
    returncode = popen.returncode
    if returncode == GATE_NOT_RELEASED:
        raise SandboxError(f"the training job for {submission_dir.name} did not start: {log.strip()[-500:]}")
    if isolation.sandboxed:
        status = _read_status(status_file)
        killed_by_us = timed_out or out_of_memory or too_many_processes or out_of_disk
        if "exit-code" not in status and not killed_by_us and log.lstrip().startswith(BWRAP_ERROR_PREFIX):
            raise SandboxError(f"bubblewrap could not start the sandbox for {submission_dir.name}: "
                               f"{log.strip().splitlines()[0]}")
        returncode = _bwrap_returncode(status.get("exit-code", returncode))
    if returncode == -signal.SIGXFSZ:
        out_of_disk = True  # one file grew past limits.disk_mb (RLIMIT_FSIZE)
    return RunOutcome(
        returncode=returncode,
        timed_out=timed_out,
        out_of_memory=out_of_memory,
        wall_seconds=wall_seconds,
        peak_rss_mb=peak_rss / 2**20,
        log_tail=log,
        too_many_processes=too_many_processes,
        out_of_disk=out_of_disk,
        peak_memory_mb=peak_memory_mb,
        sandboxed=isolation.sandboxed,
        limit_enforcement=enforcement,
        cpu_quota_cores=cgroups.cpu_quota_cores,
    )
