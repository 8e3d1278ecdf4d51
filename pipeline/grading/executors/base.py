"""What every executor shares: its errors and the local thread split."""

from __future__ import annotations

import os


class ExecutorError(OSError):
    """The executor itself failed (cluster unreachable, mismatched code on a node): stop grading.
    (An OSError, so the command line reports it in one line like other environment failures.)"""


class SubmissionTooLarge(ValueError):
    pass


def local_threads(workers: int) -> int:
    """TensorFlow threads per local worker, so that workers x threads <= cores."""
    return max(1, (os.cpu_count() or 1) // workers)
