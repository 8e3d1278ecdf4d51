"""The cache key covers exactly the code that can change a prediction: editing orchestration
re-trains nothing, editing the trainer re-trains every submission.

A copy of the package is graded with `python -m pipeline grade` run inside the copy (so the copy's
code is the code that runs and is fingerprinted): two tiny submissions, one epoch on 600 images.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.helpers import MIRROR, REPO, add_fixtures, make_project, needs_bwrap, needs_mnist

pytestmark = [pytest.mark.slow, needs_mnist, needs_bwrap]
SUBMISSIONS = ["good", "syntax_error"]  # a training and a build failure: each is a sandbox run


def grade(root) -> str:
    env = {**os.environ, "GRADEBENCH_MIRROR": str(MIRROR)}
    env.pop("MLFLOW_TRACKING_URI", None)
    completed = subprocess.run([sys.executable, "-m", "pipeline", "grade", "mnist"], cwd=root, env=env,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def stored_results(root) -> dict[str, str]:
    return {name: (root / "results" / "mnist" / f"{name}.json").read_text() for name in SUBMISSIONS}


def append_comment(path) -> None:
    path.write_text(path.read_text() + "\n# An edit that changes nothing a submission computes.\n")


@pytest.fixture
def graded_copy(tmp_path):
    root = make_project(tmp_path)
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    mnist = params["tracks"]["mnist"]
    mnist["subset"] = {"train": 600, "validation": 200, "hidden": 300}
    mnist["schedule"]["epochs"] = 1
    mnist["limits"].update(wall_seconds=120, memory_mb=2048)
    params["grading"].update(workers=1, executor="local")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    add_fixtures(root / "submissions", SUBMISSIONS)
    first = grade(root)
    assert "2 submissions, 2 to grade, 0 up to date" in first, first
    return root


def test_editing_orchestration_retrains_nothing_and_editing_the_trainer_retrains_everything(graded_copy):
    root = graded_copy
    before = stored_results(root)
    assert json.loads(before["good"])["status"] == "ok"

    append_comment(root / "pipeline" / "grading" / "orchestrate.py")
    output = grade(root)
    assert "2 submissions, 0 to grade, 2 up to date" in output, output
    assert stored_results(root) == before, "a cached result was rewritten"

    append_comment(root / "pipeline" / "sandbox" / "trainer" / "train.py")
    output = grade(root)
    assert "2 submissions, 2 to grade, 0 up to date" in output, output
    after = {name: json.loads(text) for name, text in stored_results(root).items()}
    for name in SUBMISSIONS:
        assert after[name]["grader_fingerprint"] != json.loads(before[name])["grader_fingerprint"], name
    # The same code with a comment more trains the same model: the score is the same.
    assert after["good"]["public_accuracy"] == json.loads(before["good"])["public_accuracy"]
