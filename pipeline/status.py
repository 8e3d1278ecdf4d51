"""The statuses a graded submission can end in. A failing submission is data, not an exception."""

import re

OK = "ok"
INVALID = "invalid"              # breaks the student contract (import error, bad shapes, too big, ...)
TIMEOUT = "timeout"              # ran past the track's wall-time limit
OUT_OF_MEMORY = "out_of_memory"  # went past the track's memory limit
OUT_OF_DISK = "out_of_disk"      # wrote more files than the track's disk limit
DIVERGED = "diverged"            # NaN or infinite loss during training
CRASHED = "crashed"              # any other exception or signal

ALL = (OK, INVALID, TIMEOUT, OUT_OF_MEMORY, OUT_OF_DISK, DIVERGED, CRASHED)


class SubmissionFailure(Exception):
    """Raised inside the sandbox to end a submission with a status and a one-line message."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE_CHARS = 400


def one_line(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Make an error message fit one line of a results table.

    Keras wraps layer errors in several lines with terminal colour codes and the arguments it
    was called with; keep what explains the error and drop the rest.
    """
    lines = []
    for line in _ANSI_ESCAPE.sub("", message).splitlines():
        if line.strip().startswith("Arguments received by"):
            break
        if line.strip():
            lines.append(" ".join(line.split()))
    text = " ".join(lines)
    return text if len(text) <= limit else text[: limit - 3] + "..."
