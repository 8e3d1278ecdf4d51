"""The Ray executor: trainings as Ray tasks on a cluster.

Each training is a task that receives the submission's files, the track's arrays (put into the
object store once per track), the track settings and the driver's isolation policy, runs the same
sandbox on its node and returns the run. A worker decides isolation from the driver's policy,
never from its own environment. A task whose worker or node is lost is retried
`grading.ray.max_retries` times, then recorded as crashed with the reasons.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from pipeline.config import ConfigError, Grading, Track
from pipeline.grading import fingerprints, jobs
from pipeline.grading.executors.base import ExecutorError, SubmissionTooLarge
from pipeline.sandbox import leftovers, pair
from pipeline.sandbox.isolation import Isolation, IsolationPolicy, SandboxError, SandboxUnavailable, choose_isolation

MAX_SUBMISSION_BYTES = 64 * 2**20  # what one submission may ship to a Ray worker


def read_submission(submission_dir: Path) -> dict[str, bytes]:
    """The submission's regular files by relative path: what a remote worker needs to rebuild it.

    Symbolic links are not followed, so a submission cannot ship the grading machine's files.
    """
    payload, total = {}, 0
    for path in sorted(submission_dir.rglob("*")):
        relative = path.relative_to(submission_dir)
        if path.is_symlink() or not path.is_file() or fingerprints.is_ignored(relative):
            continue
        total += path.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            raise SubmissionTooLarge(f"the submission folder holds more than {MAX_SUBMISSION_BYTES // 2**20} MB: "
                                     "submit model.py and small files only")
        payload[relative.as_posix()] = path.read_bytes()
    return payload


@functools.lru_cache(maxsize=None)
def _worker_isolation(policy: IsolationPolicy) -> Isolation:
    return choose_isolation(policy)  # probed once per worker process, with the driver's policy


def train_on_worker(submission_id: str, payload: dict[str, bytes], inputs: pair.TrainingInputs, track: Track,
                    threads: int, policy: IsolationPolicy, grader_key: str) -> pair.TrainingRun:
    """The body of a Ray task: rebuild the submission folder on this node and train it in the sandbox."""
    import ray

    if fingerprints.grader_fingerprint() != grader_key:
        raise ExecutorError(f"this node runs different gradebench code than the grading process "
                            f"({os.uname().nodename}): install the same commit on every node")
    isolation = _worker_isolation(policy)
    with tempfile.TemporaryDirectory(prefix=leftovers.scratch_prefix("submission")) as folder:
        submission_dir = Path(folder) / submission_id
        for relative, content in payload.items():
            path = submission_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        submission_dir.mkdir(exist_ok=True)
        run = jobs.run_in_sandbox(submission_dir, inputs, track, threads, isolation)
    run.node = ray.get_runtime_context().get_node_id()
    return run


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("grading.executor is 'ray' but Ray is not installed: pip install '.[ray]'") from None
    return ray


class RayExecutor:
    """Trainings as Ray tasks on a cluster; as many at a time as the cluster has CPUs for."""

    name = "ray"

    def __init__(self, inputs: pair.TrainingInputs, settings: Grading, policy: IsolationPolicy, threads: int):
        ray = self.ray = _import_ray()
        self.settings = settings.ray
        self.policy, self.grader_key = policy, fingerprints.grader_fingerprint()
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                # Workers' output stays in the cluster's logs; the grading log gets one line per result.
                ray.init(address=self.settings.address, log_to_driver=False, logging_level="WARNING")
            except ConnectionError as error:
                raise ExecutorError(f"cannot reach the Ray cluster at {self.settings.address or 'RAY_ADDRESS'}: "
                                    f"{error}") from None
        self.threads = threads  # each task reserves as many CPUs as its training has threads
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.threads:
            raise ExecutorError(f"the Ray cluster has {cpus} CPU(s), fewer than the track's schedule.threads "
                                f"= {self.threads}: add nodes")
        self.workers = cpus // self.threads
        # Put once per track: every task reads the same copy from its node's object store.
        self.inputs_ref = ray.put(inputs)
        # Retries are ours (not Ray's max_retries) so that every lost attempt is recorded.
        self.task = ray.remote(train_on_worker)
        self.lost_worker_errors = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                                   ray.exceptions.OutOfMemoryError, ray.exceptions.ObjectLostError,
                                   ray.exceptions.LocalRayletDiedError)

    def train(self, submission_dir: Path, track: Track,
              on_line: Optional[Callable[[str], None]] = None,
              on_training: Optional[Callable[[], None]] = None) -> pair.TrainingRun:
        if on_training is not None:
            on_training()  # the trainings run in Ray's workers: nothing on this machine to wait for
        payload = read_submission(submission_dir)
        lost: list[str] = []
        started = time.monotonic()
        for attempt in range(1, self.settings.max_retries + 2):
            # The name shows in `ray list tasks` and as the worker's process title (ray::grade:<id>).
            task = self.task.options(name=f"grade:{submission_dir.name}", num_cpus=self.threads, max_retries=0)
            pending = task.remote(submission_dir.name, payload, self.inputs_ref, track, self.threads,
                                  self.policy, self.grader_key)
            try:
                run = self.ray.get(pending)
            except self.lost_worker_errors as error:
                lost.append(f"attempt {attempt}: {type(error).__name__}: {_first_line(error)}")
                continue
            except self.ray.exceptions.RayTaskError as error:
                cause = error.cause
                if isinstance(cause, (SandboxUnavailable, SandboxError, ExecutorError)):
                    raise type(cause)(str(cause)) from None  # the same clear stop as on this machine
                raise ExecutorError(f"grading {submission_dir.name} failed on a Ray worker: "
                                    f"{type(cause).__name__}: {cause}") from None
            run.lost_attempts = lost
            return run
        return pair.TrainingRun(outcome=None, outputs={}, node="?", lost_attempts=lost,
                                lost_seconds=time.monotonic() - started)

    def expect(self, count: int) -> None:
        """(The local executor starts spare sandboxes from this; Ray schedules its own workers.)"""

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()  # disconnects this process; the cluster keeps running


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""
