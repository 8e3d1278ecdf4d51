"""A piece of the report's work done in a forked child, its result piped back.

A forked child starts with everything this process holds (the ranked tables, the templates, the
names), so the work needs no arguments sent: only its result comes back, pickled. The site renders
half of its feedback pages this way (site.py). The child ends with its parent, however the parent
dies, and never runs this process's exit handlers or flushes its output buffers.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # prctl(2)


def end_with_parent(parent: int) -> None:
    """In a child: be killed when `parent` dies, however it dies (Linux's parent-death signal).
    Else a killed report would leave its child running, holding the stage's output open."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


class ChildFailed(RuntimeError):
    """The child died without a result (killed, or out of memory)."""


class Forked(Generic[T]):
    """`work()` running in a forked child; `result()` waits for it (raising what it raised)."""

    def __init__(self, work: Callable[[], T]):
        parent = os.getpid()
        read_end, write_end = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child
            os.close(read_end)
            end_with_parent(parent)
            try:
                payload = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
                try:
                    payload = pickle.dumps((False, error), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # an error that does not pickle: its text
                    payload = pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            os._exit(0)
        os.close(write_end)
        self._read_end = read_end

    def result(self) -> T:
        with os.fdopen(self._read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        if not payload:
            raise ChildFailed(f"the forked child died without a result (wait status {status})")
        ok, value = pickle.loads(payload)
        if not ok:
            raise value
        return value
