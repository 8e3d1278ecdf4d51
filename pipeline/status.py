"""The statuses a graded submission can end in. A failing submission is data, not an exception."""

OK = "ok"
INVALID = "invalid"              # breaks the student contract (import error, bad shapes, too big, ...)
TIMEOUT = "timeout"              # ran past the track's wall-time limit
OUT_OF_MEMORY = "out_of_memory"  # went past the track's memory limit
DIVERGED = "diverged"            # NaN or infinite loss during training
CRASHED = "crashed"              # any other exception or signal

ALL = (OK, INVALID, TIMEOUT, OUT_OF_MEMORY, DIVERGED, CRASHED)


class SubmissionFailure(Exception):
    """Raised inside the sandbox to end a submission with a status and a one-line message."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
