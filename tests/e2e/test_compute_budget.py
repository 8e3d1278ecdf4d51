"""A track with a compute budget: `check` refuses an over-budget CNN in seconds, with the figure
and the limit, and shows an MLP's count against the budget."""

import shutil
import subprocess
import sys
import time

import pytest
import yaml

from tests.helpers import REPO, make_project, needs_bwrap, needs_mnist, project_env

BUDGET = 1  # MFLOPs per image: the MLPs fit (0.47), the small CNN (4.9) does not


@pytest.fixture(scope="module")
def budget_project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("budget"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tracks"]["mnist"]["limits"]["max_mflops_per_image"] = BUDGET
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name in ("small_cnn", "mlp_256_128"):
        shutil.copytree(REPO / "submissions" / name, root / "submissions" / name)
    return root


def check(project, submission):
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pipeline", "check", f"submissions/{submission}"], cwd=project,
                               env=project_env(), capture_output=True, text=True, timeout=300)
    return completed, time.perf_counter() - started


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_check_refuses_an_over_budget_cnn_before_training(budget_project):
    completed, seconds = check(budget_project, "small_cnn")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert ("✗ invalid: model: 4.9 MFLOPs per image, over this track's budget of 1 (limits.max_mflops_per_image)"
            in completed.stdout), completed.stdout
    assert "NOT READY" in completed.stdout and "trains:" not in completed.stdout  # refused before training
    print(f"check refused the CNN in {seconds:.1f} s")
    assert seconds < 120  # the build and the count only (Python and TensorFlow start-up dominate)


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_check_shows_the_count_against_the_budget(budget_project):
    completed, _ = check(budget_project, "mlp_256_128")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "✓ 0.47 MFLOPs per image (budget 1)" in completed.stdout
