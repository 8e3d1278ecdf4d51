"""Each sandboxed step gets its own CPU quota: one training's share (the track's schedule.threads).

A real sandboxed process spins two threads under a one-core quota and measures its own CPU time:
it gets about one core, however many threads it starts, and the quota is on the run's outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.sandbox import cgroups, command, limits, runner
from pipeline.sandbox.isolation import DEFAULT_BWRAP, Isolation, probe_bwrap
from tests.helpers import needs_bwrap, tiny_track

# Two threads that keep a core busy each (hashlib releases the GIL on large buffers), then print
# the process's CPU seconds and wall seconds over the spin.
SPIN_SCRIPT = '''
import hashlib, json, os, threading, time

def spin(until):
    block = bytes(1 << 20)
    while time.monotonic() < until:
        hashlib.sha256(block).digest()

until = time.monotonic() + 3.0
before, wall_before = os.times(), time.monotonic()
threads = [threading.Thread(target=spin, args=(until,)) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
after, wall_after = os.times(), time.monotonic()
cpu = (after.user - before.user) + (after.system - before.system)
print("SPIN " + json.dumps({"cpu_seconds": cpu, "wall_seconds": wall_after - wall_before}))
'''


def _spin(tmp_path: Path, monkeypatch, isolation: Isolation, threads: int):
    """Run SPIN_SCRIPT where the trainer would run, through the real run_training and sandbox."""
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "spin.py").write_text(SPIN_SCRIPT)
    workdir = tmp_path / "scratch"
    workdir.mkdir()
    real_command = command.bwrap_command

    def spin_command(*arguments, **keywords):
        argv = real_command(*arguments, **keywords)
        # The command ends: python -m pipeline.sandbox.trainer <step> /submission /scratch
        assert argv[-5:-3] == ["-m", command.TRAINER_MODULE], argv[-6:]
        return [*argv[:-5], f"{command.SANDBOX_SUBMISSION}/spin.py"]

    monkeypatch.setattr(command, "bwrap_command", spin_command)
    outcome = runner.run_training("build", submission, workdir, tiny_track().limits, threads, 1234, isolation)
    spin_lines = [line for line in outcome.log_tail.splitlines() if line.startswith("SPIN ")]
    assert spin_lines, outcome.log_tail[-2000:]
    return outcome, json.loads(spin_lines[-1][len("SPIN "):])


@needs_bwrap
def test_two_threads_under_a_one_core_quota_get_one_core(tmp_path, monkeypatch):
    isolation = Isolation(bwrap=probe_bwrap(DEFAULT_BWRAP)[0])
    outcome, spin = _spin(tmp_path, monkeypatch, isolation, threads=1)
    if outcome.cpu_quota_cores is None:
        pytest.skip(f"no writable cpu controller here: {outcome.limit_enforcement['cpu']}")
    assert outcome.returncode == 0, outcome.log_tail[-2000:]
    assert outcome.cpu_quota_cores == 1.0
    assert outcome.limit_enforcement["cpu"].startswith("cgroup v"), outcome.limit_enforcement
    # Unlimited, two spinning threads use up to two cores on an idle machine; the quota holds them to one.
    assert spin["cpu_seconds"] / spin["wall_seconds"] < 1.15, spin


@needs_bwrap
def test_the_quota_holds_even_on_a_busy_machine(tmp_path, monkeypatch):
    """On a machine busy with other work two threads may get less than a core anyway, so a quota
    far below what they get unlimited shows the kernel enforcing it: 0.05 cores."""
    def small_quota(*arguments, **keywords):
        return cgroups.RunCgroups(*arguments, **{**keywords, "cpu_cores": 0.05})

    monkeypatch.setattr(runner, "RunCgroups", small_quota)
    isolation = Isolation(bwrap=probe_bwrap(DEFAULT_BWRAP)[0])
    outcome, spin = _spin(tmp_path, monkeypatch, isolation, threads=1)
    if outcome.cpu_quota_cores is None:
        pytest.skip(f"no writable cpu controller here: {outcome.limit_enforcement['cpu']}")
    assert outcome.cpu_quota_cores == 0.05
    assert spin["cpu_seconds"] / spin["wall_seconds"] < 0.08, spin
    # Only a quota that bit counts throttled time (cpu.stat).
    assert outcome.limit_enforcement["cpu_throttled_seconds"] > 0, outcome.limit_enforcement


@needs_bwrap
def test_without_cgroups_the_outcome_says_there_is_no_quota(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(limits, "_WARNED_NO_CPU_QUOTA", [])
    isolation = Isolation(bwrap=probe_bwrap(DEFAULT_BWRAP)[0], use_cgroups=False)
    outcome, _ = _spin(tmp_path, monkeypatch, isolation, threads=1)
    assert outcome.cpu_quota_cores is None
    assert outcome.limit_enforcement["cpu"] == "none: cgroups are turned off"
    assert "warning: no CPU quota per sandbox (cgroups are turned off)" in capsys.readouterr().err


def test_quota_files_hold_cores_times_the_period():
    assert cgroups.cpu_settings(1, version=1) == [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "100000")]
    assert cgroups.cpu_settings(2, version=2) == [("cpu.max", "200000 100000")]
    assert cgroups.cpu_settings(0.5, version=2) == [("cpu.max", "50000 100000")]


def test_without_a_v1_cpu_controller_the_v2_one_is_used_or_the_reason_given(monkeypatch):
    """Hides the v1 cpu controller: the quota then comes from cgroup v2's cpu.max, or the run
    names why there is none (on a hybrid machine, the unified hierarchy offers no cpu)."""
    found = cgroups._controller_dirs()
    if "cpu" not in found:
        pytest.skip("no cgroup v1 cpu controller to hide")
    monkeypatch.setattr(cgroups, "_controller_dirs", lambda: {name: path for name, path in found.items()
                                                              if name != "cpu"})
    groups = cgroups.RunCgroups(2**30, 64, cpu_cores=1)
    try:
        if groups.cpu_quota_cores is not None:
            assert groups.cpu_mechanism == "cgroup v2 cpu.max"
            assert (groups.cpu / "cpu.max").read_text().split() == ["100000", "100000"]
        else:
            assert groups.cpu is None and "cpu" in groups.cpu_problem, groups.cpu_problem
            print(groups.cpu_problem)
    finally:
        groups.remove()
