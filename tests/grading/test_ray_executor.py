"""The Ray executor (issue #7) on a real two-node Ray cluster on 127.0.0.1.

`ray start --head` and a second `ray start --address=...` (one CPU each, so two trainings at a
time land on different nodes). The fixture submissions are graded through the cluster and through
the local executor and must give identical results; then a worker is killed mid-task, once
(retried, same score) and on every attempt (recorded as crashed, the rest still graded).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings, RaySettings
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox.isolation import UNSAFE_ENV_VAR, IsolationPolicy, SandboxUnavailable
from tests.helpers import add_fixtures, free_port, make_project, needs_bwrap, needs_mnist, tiny_track

ray = pytest.importorskip("ray", reason="the Ray executor is optional: pip install '.[ray]'")

pytestmark = [needs_bwrap, needs_mnist, pytest.mark.slow]

RAY = Path(sys.executable).parent / "ray"
FIXTURE_NAMES = ["good", "syntax_error", "wrong_output_size", "nan_loss", "raises_in_training", "allocates_50gb",
                 "searches_hidden_labels"]
# What must be identical whichever executor trained the submission.
COMPARED = ("status", "error", "test_accuracy", "public_accuracy", "private_accuracy", "validation_accuracy",
            "trainable_params", "history", "architecture_hash")


def predictions_hashes(result: dict) -> list:
    return [entry.get("predictions_sha256") for entry in result.get("per_seed", [])]


def ray_command(*args: str) -> None:
    # Every node's own environment opts in to unsandboxed grading: only the driver's policy may count.
    completed = subprocess.run([str(RAY), *args], capture_output=True, text=True, timeout=180,
                               env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", UNSAFE_ENV_VAR: "1"})
    assert completed.returncode == 0, f"ray {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}"


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node on this machine; yields the address to grade on."""
    address = f"127.0.0.1:{free_port()}"
    node = ["--num-cpus=1", "--object-store-memory=150000000", "--node-ip-address=127.0.0.1",
            "--disable-usage-stats"]
    ray_command("start", "--head", f"--port={address.split(':')[1]}", "--include-dashboard=false", *node)
    try:
        ray_command("start", f"--address={address}", *node)
        ray.init(address=address, logging_level="WARNING")
        try:
            deadline = time.monotonic() + 60
            while len([n for n in ray.nodes() if n["Alive"]]) < 2:
                assert time.monotonic() < deadline, "the second Ray node did not join"
                time.sleep(0.5)
        finally:
            ray.shutdown()
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)


def ray_grading(address: str, max_retries: int = 2) -> Grading:
    return Grading(executor="ray", ray=RaySettings(address=address, max_retries=max_retries))


def grade_all(project: Path, grading: Grading, results: str,
              policy: IsolationPolicy = IsolationPolicy()) -> dict[str, dict]:
    job = TrackJob("tiny", tiny_track(), project / "submissions", project / "data" / "prepared" / "mnist",
                   project / results)
    graded = grade_track(job, GradingSettings(grading, policy))
    return {result.submission: result.model_dump() for result in graded}


@pytest.fixture(scope="module")
def graded_both_ways(cluster, tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("ray-project"))
    add_fixtures(project / "submissions", FIXTURE_NAMES)
    # The track fixes the thread count, so the number of local workers and Ray change nothing.
    local = grade_all(project, Grading(workers=os.cpu_count() or 1), "results-local")
    on_ray = grade_all(project, ray_grading(cluster), "results-ray")
    return project, local, on_ray


def test_ray_results_are_identical_to_the_local_executor(graded_both_ways):
    _, local, on_ray = graded_both_ways
    assert sorted(local) == sorted(on_ray) == sorted(FIXTURE_NAMES)
    for name in FIXTURE_NAMES:
        assert local[name]["threads"] == on_ray[name]["threads"] == 1
        for key in COMPARED:
            assert on_ray[name].get(key) == local[name].get(key), f"{name}: {key} differs"
        assert predictions_hashes(on_ray[name]) == predictions_hashes(local[name])
    assert predictions_hashes(local["good"])[0] is not None
    assert local["good"]["status"] == status.OK and local["allocates_50gb"]["status"] == status.OUT_OF_MEMORY
    # The workers never had the hidden labels to find.
    assert on_ray["searches_hidden_labels"]["test_accuracy"] < 0.99


def test_ray_spreads_trainings_over_both_nodes(graded_both_ways):
    _, _, on_ray = graded_both_ways
    assert {result["executor"] for result in on_ray.values()} == {"ray"}
    assert len({result["node"] for result in on_ray.values() if result.get("node")}) == 2


def kill_training_worker(submission: str, times: int, timeout: float = 120) -> list[int]:
    """SIGKILL the Ray worker process running `submission`'s task (title ray::grade:<id>), `times`
    times, each time waiting for the next attempt to start."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while len(killed) < times:
        assert time.monotonic() < deadline, f"no Ray worker ran {submission} (killed so far: {killed})"
        for process in psutil.process_iter(["pid", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if cmdline and cmdline[0].startswith(f"ray::grade:{submission}") and process.pid not in killed:
                time.sleep(1.5)  # mid-task: the sandbox has started
                os.kill(process.pid, signal.SIGKILL)
                killed.append(process.pid)
                break
        time.sleep(0.2)
    return killed


def grade_while_killing(project: Path, grading: Grading, results: str, victim: str, kills: int):
    outcome: dict = {}
    grading_thread = threading.Thread(target=lambda: outcome.update(grade_all(project, grading, results)))
    grading_thread.start()
    try:
        killed = kill_training_worker(victim, kills)
    finally:
        grading_thread.join(timeout=600)
    assert not grading_thread.is_alive()
    return outcome, killed


def test_a_worker_killed_mid_task_is_retried_and_scores_the_same(graded_both_ways, cluster):
    project, local, _ = graded_both_ways
    only_good = project.parent / "only-good"
    add_fixtures(only_good / "submissions", ["good"])
    (only_good / "data").symlink_to(project / "data")
    results, killed = grade_while_killing(only_good, ray_grading(cluster, max_retries=1), "results", "good", kills=1)
    good = results["good"]
    assert good["status"] == status.OK, good.get("error")
    assert len(good["lost_attempts"]) == 1 and "attempt 1" in good["lost_attempts"][0]
    assert predictions_hashes(good) == predictions_hashes(local["good"])  # the retry is the same training


def test_a_worker_lost_on_every_attempt_is_recorded_as_crashed(graded_both_ways, cluster):
    project, _, _ = graded_both_ways
    lost = project.parent / "always-lost"
    add_fixtures(lost / "submissions", ["good", "sleeps_past_limit"])
    (lost / "data").symlink_to(project / "data")
    results, killed = grade_while_killing(lost, ray_grading(cluster, max_retries=1), "results",
                                          "sleeps_past_limit", kills=2)
    victim = results["sleeps_past_limit"]
    assert victim["status"] == status.CRASHED
    assert "lost 2 time(s)" in victim["error"] and "max_retries = 1" in victim["error"]
    assert [entry.split(":")[0] for entry in victim["lost_attempts"]] == ["attempt 1", "attempt 2"]
    assert results["good"]["status"] == status.OK  # the rest of the cohort is still graded
    written = json.loads((lost / "results" / "sleeps_past_limit.json").read_text())
    assert written["status"] == status.CRASHED and written["lost_attempts"] == victim["lost_attempts"]


def test_a_worker_decides_isolation_from_the_drivers_policy_not_its_own_environment(graded_both_ways, cluster):
    """The nodes' environments say GRADEBENCH_UNSAFE_NO_SANDBOX=1 (see ray_command). Where bubblewrap
    cannot run (a missing executable, as the policy names it), the task is refused unless the *driver*
    opted in; with the driver's opt-in it runs, unsandboxed and saying so."""
    project, _, _ = graded_both_ways
    no_bwrap = project.parent / "no-bwrap"
    add_fixtures(no_bwrap / "submissions", ["good"])
    (no_bwrap / "data").symlink_to(project / "data")
    with pytest.raises(SandboxUnavailable, match="refusing to run untrusted submissions"):
        grade_all(no_bwrap, ray_grading(cluster), "refused", IsolationPolicy(bwrap="/nonexistent/bwrap"))
    assert not list((no_bwrap / "refused").glob("*.json"))
    opted_in = IsolationPolicy(unsafe_no_sandbox=True, opted_in_by="--unsafe-no-sandbox", bwrap="/nonexistent/bwrap")
    results = grade_all(no_bwrap, ray_grading(cluster), "opted-in", opted_in)
    assert results["good"]["status"] == status.OK and results["good"]["sandboxed"] is False
