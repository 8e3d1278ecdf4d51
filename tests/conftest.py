"""Shared fixtures: one small `dvc repro` project used by several end-to-end test modules.

The project is a git repo holding a copy of this checkout, with small params (1000 training
images, 2 epochs), the six reference submissions (baselines) and three "students": alice (a
tiny correct model), bob (alice's code with other comments and docstrings: a duplicate) and
carol (a syntax error: a failed submission that must still appear in the grades).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GRADEBENCH_MIRROR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "tests" / "submissions"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and other files a person may want to look at (git-ignored)
STUDENTS = {"student_alice": "s001", "student_bob": "s002", "student_carol": "s003"}
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
    return env


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
