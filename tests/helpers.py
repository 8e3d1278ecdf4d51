"""Helpers shared by the test modules: paths, the small-project recipe, fixtures, skips.

(Test modules import from here, never from each other.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.config import Limits, Schedule, Subset, Track
from pipeline.data import preprocess
from pipeline.grading.record import Result
from pipeline.sandbox.isolation import DEFAULT_BWRAP, probe_bwrap

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GRADEBENCH_MIRROR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "tests" / "submissions"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and other files a person may want to look at (git-ignored)
STUDENTS = {"student_alice": "s001", "student_bob": "s002", "student_carol": "s003"}
SITE_KEY = "test-only-site-key-not-secret-0123456789"  # the site stage's key in test projects
REFERENCES = sorted(p.name for p in (REPO / "submissions").iterdir() if (p / "model.py").exists())

needs_mirror = pytest.mark.skipif(not (MIRROR / "mnist").exists(),
                                  reason="needs the local data mirror (GRADEBENCH_MIRROR)")


def run(command, cwd, env, timeout=900, check=True):
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = completed.stdout + completed.stderr
    if check:
        assert completed.returncode == 0, f"{' '.join(map(str, command))} failed:\n{output[-5000:]}"
    return output if check else completed


def make_small(params: dict) -> None:
    for track in params["tracks"].values():
        track["subset"] = {"train": 1000, "validation": 300, "hidden": 500}
        track["schedule"]["epochs"] = 2


def add_students(submissions: Path) -> None:
    alice = submissions / "student_alice"
    shutil.copytree(FIXTURES / "good", alice)
    bob = submissions / "student_bob"
    bob.mkdir()
    # The same code, re-commented: the normalised source (and so the architecture) is identical.
    source = (alice / "model.py").read_text().replace('"""Fixture: a tiny, correct submission',
                                                      '"""My own original work: a tiny, correct submission')
    (bob / "model.py").write_text("# bob's model\n" + source.replace("\n\ndef ", "\n\n# builds it\ndef "))
    shutil.copytree(FIXTURES / "syntax_error", submissions / "student_carol")
    for folder, student_id in STUDENTS.items():
        (submissions / folder / "meta.yaml").write_text(f"student_id: {student_id}\n")


def project_env() -> dict:
    env = {**os.environ, "GRADEBENCH_MIRROR": str(MIRROR),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["GRADEBENCH_SITE_KEY"] = SITE_KEY  # the site stage writes feedback pages only with a key
    return env


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                    reason="needs Debian's chromium and chromium-driver (setup.sh)")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-sync", "--disable-background-networking", "--disable-component-update"]


@contextlib.contextmanager
def chromium(*flags: str, capabilities: dict | None = None):
    """Debian's headless Chromium through its chromedriver (never a downloaded browser), with a
    throwaway profile; `flags` are added to CHROMIUM_FLAGS. Quit and cleaned up afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="gradebench-chromium-")
    for flag in [*CHROMIUM_FLAGS, *flags, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


LOG_TAIL_BYTES = 20_000

# A word the one-line message must contain, so a student knows what to fix.
MESSAGE_HINTS = {
    "syntax_error": "SyntaxError",
    "missing_package": "ModuleNotFoundError",
    "no_build_function": "defines neither build_model",
    "returns_not_a_model": "expected a keras.Model",
    "wrong_input_shape": "input shape",
    "wrong_output_size": "output shape",
    "too_many_parameters": "parameters (trainable or not, all count), over this track's budget",
    "nan_loss": "NaN",
    "raises_in_training": "this layer breaks during training",
    "sleeps_past_limit": "limits.wall_seconds",
    "allocates_50gb": "limits.memory_mb",
    "fork_bomb": "limits.max_processes",
}


def bwrap_problem() -> str | None:
    return probe_bwrap(DEFAULT_BWRAP)[1]


needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no usable bubblewrap: {bwrap_problem()}")
needs_mnist = pytest.mark.skipif(not (MIRROR / "mnist").exists(), reason="needs the MNIST files (GRADEBENCH_MIRROR)")


def tiny_track(**limits) -> Track:
    """One epoch on a few hundred images with tight limits, so broken fixtures fail fast."""
    return Track(
        dataset="mnist",
        subset=Subset(train=600, validation=200, hidden=300),
        schedule=Schedule(epochs=1, batch_size=64, learning_rate=0.05),
        limits=Limits(**{"wall_seconds": 45, "memory_mb": 2048, "max_params": 1_000_000,
                         "log_tail_bytes": LOG_TAIL_BYTES, "max_processes": 256, **limits}),
    )


def make_project(root: Path) -> Path:
    """A folder laid out like the repository, with a small real MNIST slice prepared in data/."""
    from pipeline.data.datasets import mnist

    raw = mnist.load_raw(MIRROR / "mnist")
    data = preprocess.PreparedData(
        x_train=raw["x_train"][:600], y_train=raw["y_train"][:600],
        x_val=raw["x_train"][-200:], y_val=raw["y_train"][-200:],
        x_hidden=raw["x_test"][:300], y_hidden=raw["y_test"][:300],
        class_names=[str(digit) for digit in range(10)],
    )
    preprocess.write_prepared(data, root / "data" / "prepared" / "mnist", {})
    (root / "submissions").mkdir()
    return root


def add_fixtures(submissions: Path, names) -> None:
    for name in names:
        shutil.copytree(FIXTURES / name, submissions / name)


def write_result(folder, submission, status="ok", public=None, private=None, params=None, error=None,
                 submitted_at="2024-01-01T00:00:00+00:00", public_std=None, seeds=(1234,), **extra) -> Result:
    """A result record as grading writes it, with the given scores (for ranking and grading tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    result = Result(
        submission=submission, track=folder.name, status=status, public_accuracy=public,
        public_accuracy_std=public_std, private_accuracy=private if private is not None else public,
        test_accuracy=None if public is None else 0.123456789, validation_accuracy=public,
        trainable_params=params, total_params=params, train_seconds=1.0, predict_seconds=0.1, error=error,
        submitted_at=submitted_at, seeds=list(seeds), content_hash=f"content-{submission}",
        cache_key="test", data_fingerprint="test", grader_fingerprint="test", schedule={"seed": seeds[0]},
        grading_config={}, graded_at="2024-01-01T00:00:00+00:00", **extra)
    result.write(folder)
    return result
