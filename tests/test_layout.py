"""The package's layout holds: the trust boundary, the layers, no import cycles, one list of grading code."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.grading import fingerprints
from tests.helpers import REPO

PACKAGE = REPO / "pipeline"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every pipeline module `path` imports, at the top or inside functions (`from a import b` counts
    as a.b when a.b is a module, else as a)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (REPO / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                    (REPO / Path(*candidate.split("."))).is_dir()
                names.add(candidate if is_module else node.module)
    return {name for name in names if name == "pipeline" or name.startswith("pipeline.")}


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_sandbox_code_imports_nothing_from_grading_or_reporting():
    """The trainer shares a process with student code: it must not be able to reach the grader's code."""
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        forbidden = {name for name in imports_of(path)
                     if name.startswith(("pipeline.grading", "pipeline.reporting", "pipeline.course"))}
        assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_packages_import_only_downwards():
    """The import-linter contract in .importlinter: config/status/atomic < data < sandbox <
    grading | course < reporting < commands. Any upward import (not listed as known debt) fails."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint_imports, "lint-imports is missing: install the test extra (import-linter)"
    # The checkout under test comes first on the path, whichever copy of the package is installed.
    run = subprocess.run([lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stdout[run.stdout.find("Broken contracts"):] + run.stderr


def test_no_import_cycles():
    graph = import_graph()
    for start in graph:
        # Depth-first search for a path back to `start` (package __init__ files count as their package).
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in graph.get(node, ()):
                if target == start and len(path) > 1:
                    raise AssertionError("import cycle: " + " -> ".join(path + [target]))
                if target not in seen and target in graph:
                    seen.add(target)
                    stack.append((target, path + [target]))


def test_dvc_grade_deps_are_exactly_the_grader_fingerprint_paths():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["grade"]["do"]
    code_deps = [dep for dep in stage["deps"] if dep.startswith("pipeline")]
    assert sorted(code_deps) == sorted(fingerprints.GRADER_CODE)
    # ... and the fingerprint covers every file DVC hashes there (byte code aside).
    hashed = {path.as_posix() for path in fingerprints.grader_files()}
    for dep in code_deps:
        on_disk = [dep] if (REPO / dep).is_file() else [
            path.relative_to(REPO).as_posix() for path in (REPO / dep).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"]
        assert set(on_disk) <= hashed, set(on_disk) - hashed


def _module_file(name: str) -> Path:
    path = REPO / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_the_key_holds_every_module_that_training_and_scoring_run():
    """Everything the trainer, the jobs it is given and the scoring import is in GRADER_CODE (empty
    package __init__ files aside): an edit there can change a prediction or a score."""
    graph = import_graph()
    hashed = {path.as_posix() for path in fingerprints.grader_files()}
    roots = ["pipeline.sandbox.trainer.train", "pipeline.sandbox.trainer.build", "pipeline.grading.scoring",
             "pipeline.grading.jobs", "pipeline.sandbox.pair", "pipeline.grading.seeds"]
    seen, stack = set(roots), list(roots)
    while stack:
        for target in graph.get(stack.pop(), ()):
            if target in graph and target not in seen:
                seen.add(target)
                stack.append(target)
    needed = {_module_file(name).relative_to(REPO).as_posix() for name in seen}
    # Imported by config.py for names only, and nothing they compute reaches a result: the
    # course settings (deadlines, used by collect) and where the commands read and write.
    names_only = {"pipeline/course_settings.py", "pipeline/paths.py"}
    missing = {path for path in needed - hashed - names_only if (REPO / path).stat().st_size > 0}
    assert not missing, f"imported by training or scoring but not in GRADER_CODE: {sorted(missing)}"


def test_orchestration_logging_and_reporting_are_not_in_the_key():
    hashed = {path.as_posix() for path in fingerprints.grader_files()}
    for outside in ("pipeline/grading/orchestrate.py", "pipeline/grading/cache.py", "pipeline/grading/executors/local.py",
                    "pipeline/reporting/publish.py", "pipeline/reporting/history.py", "pipeline/__main__.py",
                    "pipeline/data/download.py"):
        assert (REPO / outside).is_file() and outside not in hashed, outside


def test_grader_fingerprint_changes_with_any_grading_file(tmp_path):
    for entry in fingerprints.GRADER_CODE:
        source = REPO / entry
        target = tmp_path / entry
        if source.is_dir():
            for path in fingerprints.folder_files(source):
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                (target / path.relative_to(source)).write_bytes(path.read_bytes())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    before = fingerprints.grader_fingerprint(tmp_path)
    assert before == fingerprints.grader_fingerprint(REPO)
    trainer = tmp_path / "pipeline" / "sandbox" / "trainer" / "train.py"
    trainer.write_text(trainer.read_text() + "\n# changed\n")
    fingerprints.grader_fingerprint.cache_clear()
    assert fingerprints.grader_fingerprint(tmp_path) != before


def test_the_lock_files_pin_every_declared_dependency():
    """setup.sh installs only from the lock files: a dependency added to pyproject.toml but not
    locked would be missing on a fresh machine."""
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    def names(requirements):
        return {re.split(r"[<>=!\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
                for requirement in requirements}
    for lock, extras in (("requirements.lock", ["test"]), ("requirements-ray.lock", ["test", "ray"])):
        pinned = {line.split("==")[0].lower().replace("_", "-")
                  for line in (REPO / lock).read_text().splitlines() if "==" in line and not line.startswith(" ")}
        declared = names(project["dependencies"])
        for extra in extras:
            declared |= names(project["optional-dependencies"][extra])
        assert declared <= pinned, f"{lock} lacks {sorted(declared - pinned)}: re-lock (README 'Pinned environment')"
