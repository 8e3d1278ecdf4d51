"""Charts and plots, drawn in a second process while this one does the rest.

With one change at 1,000 students, the report's drawing (matplotlib's import, the Pareto and
history charts, the leaderboard's plots) and its rendering (a page per student, the leak check,
the sync) each take about a second. One after the other, a 2-core machine leaves a core idle for
both. So the report forks one worker process at its start, which imports matplotlib at once, and
hands it every chart; its own process never imports matplotlib, and no page waits for a chart (a
feedback page places its own line with the chart's frame: site_history_chart.frame). `grade`
forks one too, for each result's feedback plots (commands/grade.py).

The worker is forked (not spawned): it starts with everything this process has imported, and the
charts' inputs reach it pickled. Jobs run in the order they are given. On a single core, or when
asked, every job runs at once in this process: the same charts, the same bytes.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Optional

from pipeline.cores import usable_cores
from pipeline.reporting.forked import end_with_parent


def _warm_up() -> None:
    """matplotlib's import and its first drawing (fonts, the SVG and PNG writers)."""
    from pipeline.reporting import feedback

    feedback.warm_up()


def _started() -> None:
    """A job that does nothing: submitting it forks the worker."""


def done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def all_of(jobs: list[Future]) -> Future:
    """A Future of the lists `jobs` return, joined in their order (or of the first error)."""
    joined: Future = Future()
    remaining = [len(jobs)]

    def one_done(_: Future) -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            errors = [job.exception() for job in jobs if job.exception() is not None]
            if errors:
                joined.set_exception(errors[0])
            else:
                joined.set_result([item for job in jobs for item in job.result()])
    if not jobs:
        joined.set_result([])
    for job in jobs:
        job.add_done_callback(one_done)
    return joined


def _failed(error: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future


class ChartWorker:
    """`submit(draw, *args)` -> a Future of draw(*args). `parallel`: draw in a forked process when
    this machine has a second core (else, and with False, each job runs at once, here). Used as a
    context manager: leaving it waits for every job and raises the first job's error."""

    def __init__(self, parallel: bool = True, warm: bool = True):
        """`warm`: import matplotlib in the worker at once (else at `warm_up`); the worker is forked
        here either way, before the caller starts any thread (a fork copies no other thread)."""
        self._pool: Optional[ProcessPoolExecutor] = None
        if parallel and usable_cores() > 1:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                             initializer=end_with_parent, initargs=(os.getpid(),))
        self.parallel = self._pool is not None  # a second core is drawing: other work may use it too
        self._jobs: list[Future] = []
        if self._pool is not None:
            self.submit(_warm_up if warm else _started)

    def warm_up(self) -> None:
        """Have the worker import matplotlib now (the jobs that follow wait for it)."""
        if self._pool is not None:
            self.submit(_warm_up)

    def submit(self, draw: Callable, *args, **kwargs) -> Future:
        if self._pool is None:
            try:
                job = done(draw(*args, **kwargs))
            except Exception as error:  # raised where the result is asked for, as from the process
                job = _failed(error)
        else:
            job = self._pool.submit(draw, *args, **kwargs)
        self._jobs.append(job)
        return job

    def close(self) -> None:
        """Wait for every job; raise the first one's error."""
        try:
            for job in self._jobs:
                job.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> "ChartWorker":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.close()
        elif self._pool is not None:
            # An error already: the charts not begun are dropped; the one being drawn ends first (a
            # second at most), so that the worker, which holds this process's output open, is gone
            # when it exits.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
