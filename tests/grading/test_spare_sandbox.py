"""Spare sandbox pairs (sandbox/pair.py SandboxPair, executors/local.py): the next job's sandboxes
start, and import TensorFlow, while the current job runs; the job is handed over later.

What must hold: the same predictions as a pair started with its submission, a wall clock that
starts at the hand-over (a spare may wait longer than the track's wall-time limit), no spare in a
one-job run, and nothing left behind (no processes, no scratch folders) once the executor closes.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from pipeline import status
from pipeline.config import HiddenSplit
from pipeline.sandbox.pair import SandboxPair, TrainingRun
from pipeline.grading.executors.local import LocalExecutor
from pipeline.grading.scoring import TrackData
from pipeline.sandbox import exchange, leftovers
from pipeline.sandbox.isolation import IsolationPolicy, choose_isolation
from pipeline.sandbox.command import TRAINER_MODULE
from tests.helpers import FIXTURES, make_project, needs_bwrap, needs_mnist, tiny_track

SUBMISSIONS = ["good", "custom_layer", "subclassed_model"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("spares"))
    return TrackData.load(project / "data" / "prepared" / "mnist", tiny_track(), HiddenSplit())


def result_of(run: TrainingRun) -> dict:
    return json.loads(run.outputs[exchange.RESULT_FILE])


def sandbox_children() -> list[psutil.Process]:
    """This test process's sandboxes (bwrap, or the trainer itself)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "bwrap" or TRAINER_MODULE in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass  # gone meanwhile
    return found


def own_scratch() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(leftovers.scratch_prefix("*") + "*"))


@needs_bwrap
@needs_mnist
def test_jobs_on_spares_give_the_same_predictions_and_leave_nothing_behind(data):
    track, isolation = tiny_track(), choose_isolation(IsolationPolicy())
    with LocalExecutor(data.inputs, isolation, 1, workers=1) as cold:  # no expect(): every pair starts cold
        alone = {name: cold.train(FIXTURES / name, track).outputs[exchange.PREDICTIONS_FILE] for name in SUBMISSIONS}
    assert cold.spares_used == 0
    with LocalExecutor(data.inputs, isolation, 1, workers=1) as warm:
        warm.expect(len(SUBMISSIONS))
        runs = {name: warm.train(FIXTURES / name, track) for name in SUBMISSIONS}
        assert warm.spares_used == len(SUBMISSIONS) - 1  # every job after the first
    for name, run in runs.items():
        assert result_of(run)["status"] == status.OK, run.outcome.log_tail[-2000:]
        assert run.outputs[exchange.PREDICTIONS_FILE] == alone[name]  # bit-identical
    assert sandbox_children() == []  # the last job started no spare; nothing is left running
    assert own_scratch() == []


@needs_bwrap
@needs_mnist
def test_a_spare_waits_past_the_wall_limit_and_its_clock_starts_at_the_hand_over(data):
    track = tiny_track(wall_seconds=6)
    pair = SandboxPair(data.inputs, track, 1, choose_isolation(IsolationPolicy()))
    time.sleep(9)  # imports done, waiting for its job, longer than the limit
    pair.start_job(FIXTURES / "good", track)
    run = pair.finish()
    assert not run.outcome.timed_out and result_of(run)["status"] == status.OK
    assert run.outcome.wall_seconds < 6


@needs_bwrap
@needs_mnist
def test_a_spare_that_is_never_used_is_stopped_on_close(data):
    executor = LocalExecutor(data.inputs, choose_isolation(IsolationPolicy()), 1, workers=1)
    executor.expect(5)  # more jobs announced than come: the spare started after the first is left over
    run = executor.train(FIXTURES / "good", tiny_track())
    assert result_of(run)["status"] == status.OK
    assert sandbox_children() != []  # the spare, importing or waiting
    started = time.monotonic()
    executor.close()
    assert time.monotonic() - started < 10
    assert sandbox_children() == [] and own_scratch() == []
