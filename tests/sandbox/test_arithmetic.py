"""The same arithmetic for everyone: a score never depends on where or how a job was graded.

Float sums depend on how many threads split them and on which vector kernels oneDNN picks for the
CPU at run time. Both are fixed by the sandbox, not by the machine or the grader's shell: the
thread count is the track's `schedule.threads`, and oneDNN is capped at AVX2, which every
supported x86-64 CPU has (an AVX-512 machine then computes what an AVX2 machine does). Graded
alone, in a batch or on Ray is covered by test_fair_play (alone vs batch) and test_ray_executor.
"""

from __future__ import annotations

import pytest

from pipeline.config import HiddenSplit
from pipeline.grading.executors.local import LocalExecutor
from pipeline.grading.scoring import TrackData
from pipeline.sandbox import command, exchange
from pipeline.sandbox.isolation import IsolationPolicy, choose_isolation
from tests.helpers import FIXTURES, make_project, needs_bwrap, needs_mnist, tiny_track

# A convolution (oneDNN's kernels differ most there) and a dense model.
SUBMISSIONS = ["channel_axis_input", "good"]


def test_the_sandbox_fixes_threads_and_kernels_whatever_the_machine():
    environment = command.sandbox_environment("/home", "/tmp", "/opt", threads=3, seed=1, path="/usr/bin")
    assert environment["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert environment["OMP_NUM_THREADS"] == "3"
    assert "TF_ENABLE_ONEDNN_OPTS" not in environment  # oneDNN stays on: the cap is what makes it agree


def predictions(track) -> dict[str, bytes]:
    data = TrackData.load(PROJECT["prepared"], track, HiddenSplit())
    with LocalExecutor(data.inputs, choose_isolation(IsolationPolicy()), track.schedule.threads) as executor:
        return {name: executor.train(FIXTURES / name, track).outputs[exchange.PREDICTIONS_FILE]
                for name in SUBMISSIONS}


PROJECT: dict = {}


@pytest.fixture(scope="module", autouse=True)
def project(tmp_path_factory):
    PROJECT["prepared"] = make_project(tmp_path_factory.mktemp("arithmetic")) / "data" / "prepared" / "mnist"


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_the_graders_own_kernel_and_thread_settings_never_reach_the_training(monkeypatch):
    clean = predictions(tiny_track())
    # A TA's shell that would change the kernels and threads if it reached TensorFlow.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")
    assert predictions(tiny_track()) == clean
