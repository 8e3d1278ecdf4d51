"""The command line and environment of one sandboxed step: bwrap's arguments and binds.

The step runs `python -m pipeline.sandbox.trainer` inside a bubblewrap (`bwrap`) sandbox that sees only:

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
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

from pipeline.sandbox import exchange
from pipeline.sandbox.isolation import Isolation, SandboxError, hardened_bwrap_flags

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds pipeline/

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


def make_output(workdir: Path, step: str) -> Path:
    output = workdir / STEP_OUTPUT[step]
    output.mkdir(exist_ok=True)
    return output



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
    make_output(workdir, step)
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


def bwrap_returncode(returncode: Optional[int]) -> Optional[int]:
    """bwrap exits with 128+N when its child died of signal N; report that as -N like Popen does."""
    if returncode is not None and 128 < returncode < 128 + 65:
        return -(returncode - 128)
    return returncode


def read_status(status_file) -> dict:
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

