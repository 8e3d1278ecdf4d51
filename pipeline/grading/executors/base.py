"""What every executor shares: its errors."""

from __future__ import annotations


class ExecutorError(OSError):
    """The executor itself failed (cluster unreachable, mismatched code on a node): stop grading.
    (An OSError, so the command line reports it in one line like other environment failures.)"""


class SubmissionTooLarge(ValueError):
    pass
