"""Where sandboxed training runs: worker threads on this machine (`local`) or a Ray cluster (`ray`).

Grading a submission is a pure function of (track, submission, data, schedule), so training fans
out; everything around it stays in the grading process: the cache, scoring against the hidden
labels (which never leave it), statuses, results and MLflow logging. An executor only turns
(submission, track) into a `pair.TrainingRun`, through one interface:

    executor.expect(jobs)   # how many train() calls are coming
    executor.train(submission_dir, track, on_line, on_training) -> TrainingRun
    executor.workers, executor.threads, executor.name, executor.close()

Ray is optional (`pip install '.[ray]'`) and imported only when `grading.executor: ray`.
"""

from __future__ import annotations

from pipeline.config import Grading
from pipeline.sandbox import pair
from pipeline.grading.executors.base import ExecutorError, SubmissionTooLarge  # noqa: F401
from pipeline.sandbox.isolation import IsolationPolicy, choose_isolation


def make_executor(settings: Grading, inputs: pair.TrainingInputs, policy: IsolationPolicy, threads: int):
    """The executor grading.executor names, for trainings of `threads` threads (the track's
    schedule.threads: the same on every executor, so where a job runs never changes its scores). `local` probes the sandbox here and refuses without it
    (before any student code runs); on `ray` each worker probes its own node, with this policy."""
    if settings.executor == "ray":
        from pipeline.grading.executors.ray import RayExecutor

        return RayExecutor(inputs, settings, policy, threads)
    from pipeline.grading.executors.local import LocalExecutor

    return LocalExecutor(inputs, choose_isolation(policy), threads, settings.workers)
