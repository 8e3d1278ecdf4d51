"""Shared fixtures: one small `dvc repro` project used by several end-to-end test modules.

The project is a git repo holding a copy of this checkout, with small params (1000 training
images, 2 epochs), the six reference submissions (baselines) and three "students": alice (a
tiny correct model), bob (alice's code with other comments and docstrings: a duplicate) and
carol (a syntax error: a failed submission that must still appear in the grades).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import MIRROR, REPO, add_students, make_small, project_env, run


@dataclass
class DvcProject:
    root: Path
    env: dict
    first_output: str


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory) -> DvcProject:
    """A git repo holding a copy of this checkout's files, with small params, after `dvc repro`."""
    if not (MIRROR / "mnist").exists():
        pytest.skip("needs the local data mirror (GRADEBENCH_MIRROR)")
    root = tmp_path_factory.mktemp("gradebench")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file() and not name.startswith(("tests/", "bench/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    make_small(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    add_students(root / "submissions")
    env = project_env()
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=root, env=env, check=True)
    first_output = run(["dvc", "repro"], root, env)
    return DvcProject(root, env, first_output)
