"""Whether untrusted code runs in bubblewrap, decided once by the grading process.

`IsolationPolicy` is what the user chose (may the sandbox be skipped where bubblewrap cannot run?),
resolved once from params.yaml, the command line and GRADEBENCH_UNSAFE_NO_SANDBOX by
pipeline.config. It is a plain value that travels with every Ray task, so a worker decides from
the driver's choice and never from its own environment. `choose_isolation` probes bubblewrap on
the machine that runs the job and turns the policy into an `Isolation`, refusing to run untrusted
code unsandboxed unless the policy allows it (then with a loud warning).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from pipeline.config import DEFAULT_BWRAP, UNSAFE_ENV_VAR, IsolationPolicy  # noqa: F401 (re-exported)

# The sandbox user: "nobody" inside a user namespace, with no capabilities.
SANDBOX_UID = 65534
# Flags of newer bubblewraps, used when `bwrap --help` lists them.
OPTIONAL_FLAGS = ("--disable-userns", "--size")

UNSAFE_BANNER = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! WARNING: grading WITHOUT a sandbox ({reason}).
!! Student code runs as an ordinary process of this user: it can read hidden labels, the
!! repository and your files, use the network and kill the grader. Only grade code you trust.
!! (Opted in by {how}; install bubblewrap to sandbox again: apt-get install bubblewrap)
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


class SandboxUnavailable(OSError):
    """bubblewrap cannot isolate submissions here and the user did not opt in to run without it.

    An OSError because it is a problem of the machine's setup, which the CLI reports as such.
    """


class SandboxError(OSError):
    """The sandbox itself failed to start (a pipeline error, never the submission's fault)."""


@dataclass(frozen=True)
class Isolation:
    """How training jobs are run: inside bubblewrap (`bwrap` = its path) or, if opted in, not."""

    bwrap: Optional[str]
    use_cgroups: bool = True  # False: rlimits and polling only (tests use it for the fallback)
    bwrap_options: tuple[str, ...] = ()  # optional hardening flags this bwrap version supports

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None


# ---------------------------------------------------------------------------------------------
# Choosing the isolation: probe bubblewrap once, refuse without it unless opted in.


def hardened_bwrap_flags() -> list[str]:
    """Namespaces, the unprivileged user and the session flags every sandbox uses."""
    return [
        "--unshare-all",  # user, mount, pid, net, ipc, uts and cgroup namespaces
        "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--cap-drop", "ALL",  # run as root, bwrap would otherwise keep every capability
        "--die-with-parent",  # the sandbox dies with the grader
        "--new-session",  # no access to the grader's terminal
    ]


@functools.lru_cache(maxsize=None)
def probe_bwrap(executable: str) -> tuple[Optional[str], Optional[str], tuple[str, ...]]:
    """(absolute path, None, optional flags) if bwrap can sandbox here, else (None, reason, ())."""
    path = shutil.which(executable)
    if path is None:
        return None, f"the bubblewrap executable {executable!r} was not found", ()
    try:
        help_text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
        # Newer hardening flags are used when this bwrap has them (--disable-userns: 0.8).
        optional = tuple(flag for flag in OPTIONAL_FLAGS if flag in help_text)
        probe_flags = [flag for flag in optional if flag != "--size"]
        probe = subprocess.run(
            [path, *hardened_bwrap_flags(), *probe_flags, "--ro-bind", "/", "/", "true"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"{path} could not be run: {error}", ()
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        return None, f"{path} cannot create namespaces here: {detail[-1] if detail else f'exit code {probe.returncode}'}", ()
    return path, None, optional


def choose_isolation(policy: IsolationPolicy = IsolationPolicy(), use_cgroups: bool = True,
                     warn: Callable[[str], None] | None = None) -> Isolation:
    """Sandbox with bubblewrap when it works; otherwise refuse, unless the driver opted in.

    `policy` is resolved once, by the grading process (pipeline.config.resolve_grading); a Ray
    worker receives the driver's policy with each task and never reads its own environment. The
    opt-in only permits the fallback: a working bubblewrap is always used.
    """
    bwrap_executable, unsafe_no_sandbox = policy.bwrap, policy.unsafe_no_sandbox
    path, problem, optional = probe_bwrap(bwrap_executable)
    if path is not None:
        return Isolation(bwrap=path, use_cgroups=use_cgroups, bwrap_options=optional)
    if not unsafe_no_sandbox:
        raise SandboxUnavailable(
            f"refusing to run untrusted submissions without a sandbox: {problem}. "
            "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) on a kernel that allows "
            "namespaces, or, only if you trust every submission, opt in to unsandboxed grading with "
            f"`grading.unsafe_no_sandbox: true` in params.yaml, --unsafe-no-sandbox or {UNSAFE_ENV_VAR}=1 "
            "(set where the grading command runs; a Ray worker's own environment is never consulted)"
        )
    banner = UNSAFE_BANNER.format(reason=problem, how=policy.opted_in_by or "the grading process")
    (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(banner)
    return Isolation(bwrap=None, use_cgroups=use_cgroups)
