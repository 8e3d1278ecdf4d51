"""Run one step of a submission's training job isolated from the grader, with limits.

The grader never imports student code. It starts `python -m pipeline.sandbox.trainer` in a
bubblewrap sandbox (command.py: what the sandbox sees) under limits set from outside (limits.py,
cgroups.py), and watches it (supervise.py). Results come back through files in the workdir.

Where bubblewrap is missing, isolation.py decides (once, from the driver's policy) whether to
refuse or to run the job as a plain child process (limits still apply) with a loud warning.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

from pipeline.config import Limits
from pipeline.sandbox import command
from pipeline.sandbox.cgroups import RunCgroups
from pipeline.sandbox.isolation import Isolation, SandboxError
from pipeline.sandbox.supervise import GATE_NOT_RELEASED, HandOver, RunOutcome, run_gated


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
    workdir = workdir.resolve()
    output = workdir / command.STEP_OUTPUT[step]
    # bwrap reports the job's exit code through this file, which the sandbox cannot reach.
    status_file = tempfile.TemporaryFile(prefix="gradebench-bwrap-status-") if isolation.sandboxed else None
    try:
        if isolation.sandboxed:
            argv = command.bwrap_command(isolation, step, submission_dir, workdir, threads, seed,
                                         limits.disk_mb * 2**20, status_file.fileno())
            environment, pass_fds = {"PATH": "/usr/bin:/bin"}, (status_file.fileno(),)
            written = [output]  # HOME and TMPDIR are the sandbox's own tmpfs
        else:
            argv = [sys.executable, "-m", command.TRAINER_MODULE, step, str(submission_dir.resolve()), str(workdir)]
            environment, pass_fds = command.child_environment(workdir, threads, seed), ()
            command.make_output(workdir, step)
            written = [output, workdir / "home", workdir / "tmp"]
        cgroups = RunCgroups(limits.memory_mb * 2**20, limits.max_processes, enabled=isolation.use_cgroups,
                             cpu_cores=threads)
        outcome = run_gated(argv, workdir, environment, pass_fds, limits, cgroups, written, on_line, hand_over)
    except BaseException:
        if status_file is not None:
            status_file.close()
        raise
    log = outcome.log_tail
    if outcome.returncode == GATE_NOT_RELEASED:
        if status_file is not None:
            status_file.close()
        raise SandboxError(f"the training job for {submission_dir.name} did not start: {log.strip()[-500:]}")
    returncode = outcome.returncode
    if isolation.sandboxed:
        status = command.read_status(status_file)
        if "exit-code" not in status and not outcome.stopped and log.lstrip().startswith(command.BWRAP_ERROR_PREFIX):
            raise SandboxError(f"bubblewrap could not start the sandbox for {submission_dir.name}: "
                               f"{log.strip().splitlines()[0]}")
        returncode = command.bwrap_returncode(status.get("exit-code", returncode))
    # One file grew past limits.disk_mb (RLIMIT_FSIZE).
    out_of_disk = outcome.out_of_disk or returncode == -signal.SIGXFSZ
    return dataclasses.replace(outcome, returncode=returncode, out_of_disk=out_of_disk, sandboxed=isolation.sandboxed)
