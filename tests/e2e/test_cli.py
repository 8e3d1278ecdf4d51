"""The command line as a user runs it: as subprocesses, checking output and exit codes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import MESSAGE_HINTS, REPO, add_fixtures, make_project

MIRROR = Path(os.environ.get("GRADEBENCH_MIRROR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "tests" / "submissions"
REFERENCES = sorted(p.name for p in (REPO / "submissions").iterdir() if (p / "model.py").exists())
# Every fixture that grading fails, with a word its message must contain (shared with the
# sandbox tests, so check and grading are held to the same messages).
BROKEN = MESSAGE_HINTS

needs_data = pytest.mark.skipif(not (MIRROR / "mnist").exists(), reason="needs the local data mirror")


def gradebench(args, cwd, check=False):
    env = {**os.environ, "GRADEBENCH_MIRROR": str(MIRROR)}
    completed = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=600)
    if check:
        assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A working folder with the real params.yaml, plus tight.yaml whose limits make broken
    fixtures fail fast (a 40 s limit would make every real model's 30-epoch estimate too long)."""
    root = tmp_path_factory.mktemp("cli")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for track in params["tracks"].values():
        track["limits"].update(wall_seconds=40, memory_mb=2048)
    (root / "tight.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for track in params["tracks"].values():  # for a fixture that only sleeps: its timeout, sooner
        track["limits"].update(wall_seconds=10)
    (root / "tighter.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(REPO / "submissions", root / "submissions")
    return root


def test_help_lists_every_command_with_examples(tmp_path):
    completed = gradebench(["--help"], tmp_path, check=True)
    for command in ("download", "preprocess", "grade", "leaderboard", "check", "new", "ui", "rerun", "site", "report"):
        assert command in completed.stdout
    assert "examples:" in completed.stdout
    assert "example:" in gradebench(["check", "--help"], tmp_path, check=True).stdout


def test_bad_params_value_is_named_with_exit_2(project, tmp_path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["tracks"]["mnist"]["schedule"]["batch_size"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    completed = gradebench(["grade", "mnist"], tmp_path)
    assert completed.returncode == 2
    assert "tracks.mnist.schedule.batch_size = 0" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_unknown_track_is_a_clear_error(project):
    completed = gradebench(["leaderboard", "--track", "cifar"], project)
    assert completed.returncode == 2 and "unknown track 'cifar'" in completed.stderr


@needs_data
def test_new_creates_a_template_that_passes_check(project):
    created = gradebench(["new", "alice"], project, check=True)
    assert "submissions/alice/model.py" in created.stdout
    again = gradebench(["new", "alice"], project)
    assert again.returncode == 2 and "already exists" in again.stderr
    checked = gradebench(["check", "submissions/alice"], project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "READY" in checked.stdout and "of them trainable" in checked.stdout
    assert "estimated full schedule: 30 epochs" in checked.stdout


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("reference", REFERENCES)
def test_check_accepts_every_reference_submission(project, reference):
    completed = gradebench(["check", f"submissions/{reference}", "--track", "mnist"], project)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "READY" in completed.stdout


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("behaviour, expected", sorted(BROKEN.items()))
def test_check_rejects_broken_submission_with_a_clear_message(project, behaviour, expected):
    shutil.copytree(FIXTURES / behaviour, project / "submissions" / behaviour, dirs_exist_ok=True)
    params = "tighter.yaml" if behaviour == "sleeps_past_limit" else "tight.yaml"
    completed = gradebench(["--params", params, "check", f"submissions/{behaviour}"], project)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "NOT READY" in completed.stdout
    assert expected in completed.stdout
    assert "Traceback" not in completed.stderr


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_interrupted_grading_keeps_finished_results_and_stops_at_once(tmp_path, stop):
    """Ctrl-C (or SIGTERM) while one training is in flight: the finished result stays on disk,
    intact; the command stops within seconds (it does not wait for the hour-long sleeper), kills
    its sandboxes and removes their scratch folders (copies of the hidden inputs), and the next
    run grades only what is missing."""
    import json
    import signal
    import tempfile
    import time

    import psutil

    root = make_project(tmp_path)
    add_fixtures(root / "submissions", ["good", "sleeps_past_limit"])
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    mnist = params["tracks"]["mnist"]
    mnist["subset"] = {"train": 600, "validation": 200, "hidden": 300}
    mnist["schedule"]["epochs"] = 1
    mnist["limits"]["wall_seconds"] = 600
    params["grading"].update(workers=2, executor="local")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    results = root / "results" / "mnist"

    grading = subprocess.Popen([sys.executable, "-m", "pipeline", "grade", "mnist"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (results / "good.json").exists():
        assert grading.poll() is None and time.monotonic() < deadline, "good was never graded"
        time.sleep(0.2)
    scratch = f"gradebench-{grading.pid}-"
    assert list(Path(tempfile.gettempdir()).glob(scratch + "*")), "the sleeper's scratch folder exists meanwhile"
    grading.send_signal(getattr(signal, stop))
    started = time.monotonic()
    _, stderr = grading.communicate(timeout=60)
    assert time.monotonic() - started < 30, "the interrupted run waited for the training in flight"
    assert grading.returncode == 130 and "finished results are kept" in stderr, stderr[-2000:]
    assert not list(Path(tempfile.gettempdir()).glob(scratch + "*")), "scratch folders left behind"
    # No sandbox of this grader is left (their command lines name its scratch folders).
    assert not [process for process in psutil.process_iter(["cmdline"])
                if any(scratch in part for part in process.info["cmdline"] or [])]
    assert json.loads((results / "good.json").read_text())["status"] == "ok"
    assert not (results / "sleeps_past_limit.json").exists()

    shutil.rmtree(root / "submissions" / "sleeps_past_limit")
    again = gradebench(["grade", "mnist"], root, check=True)
    assert "1 submissions, 0 to grade, 1 up to date" in again.stdout


def test_a_broken_mlflow_store_is_one_clear_line_and_left_as_it_is(tmp_path):
    """A tracking database that cannot be opened (corrupt, or cut short while being created) is
    named in one line with what to do, not a SQLAlchemy traceback; the file itself is not touched."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    garbage = bytes(range(256)) * 20
    (tmp_path / "mlflow.db").write_bytes(garbage)
    completed = gradebench(["rerun", "0123456789abcdef"], tmp_path)
    assert completed.returncode == 3, completed.stderr
    assert "error: the MLflow store cannot be used: (sqlite3.DatabaseError) file is not a database" in completed.stderr
    assert "move it aside and run again" in completed.stderr and "Traceback" not in completed.stderr
    assert (tmp_path / "mlflow.db").read_bytes() == garbage


def test_leaderboard_prints_the_top_rows_of_a_large_class_and_writes_every_row(tmp_path):
    """A 1,000-student course must not scroll 1,000 rows past in every `dvc repro`: the terminal
    gets the top of the table and where the rest is; the Markdown file keeps every row."""
    from pipeline.commands.leaderboard import TERMINAL_ROWS
    from tests.helpers import write_result

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    students = TERMINAL_ROWS + 7
    for index in range(students):  # student_00 best, then falling: the top rows are known
        write_result(tmp_path / "results" / "mnist", f"student_{index:02d}", public=0.99 - index / 1000,
                     params=1000 + index)
    completed = gradebench(["leaderboard", "--track", "mnist"], tmp_path, check=True)
    shown = [name for name in (f"student_{i:02d}" for i in range(students)) if name in completed.stdout]
    assert shown == [f"student_{i:02d}" for i in range(TERMINAL_ROWS)]
    assert f"... 7 more rows in {Path('results') / 'leaderboard.md'}" in completed.stdout
    written = (tmp_path / "results" / "leaderboard.md").read_text()
    assert all(f"student_{i:02d}" in written for i in range(students))


# Exit statuses (docs/instructors/exit-codes.md): 0 done, 1 a negative verdict, 2 bad input or
# configuration, 3 an internal failure, 130 interrupted. The cheap ones, each as a user meets it.
@pytest.mark.parametrize("args, message", [
    (["check", "submissions/nobody"], "submissions/nobody is not a folder"),
    (["check", "submissions/small_cnn", "--track", "cifar"], "unknown track 'cifar'"),
    (["new", "../escape"], "submission id '../escape' is not allowed"),
    (["download", "cifar"], "cifar"),
    (["collect", "git"], "course"),
    (["grade", "mnist", "--no-such-option"], "unrecognized arguments"),
])
def test_bad_input_exits_2_with_one_line(project, args, message):
    completed = gradebench(args, project)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_missing_params_file_exits_2(tmp_path):
    completed = gradebench(["leaderboard"], tmp_path)
    assert completed.returncode == 2 and "params.yaml: not found" in completed.stderr


def test_internal_failures_exit_3_and_keep_their_traceback():
    from pipeline.__main__ import exit_status
    from pipeline.data.download import DownloadError

    assert exit_status(RuntimeError("a bug"))[0] == 3
    assert "internal failure (RuntimeError: a bug)" in exit_status(RuntimeError("a bug"))[1]
    assert exit_status(DownloadError("no mirror delivered it"))[0] == 3
    assert exit_status(PermissionError("results/ is read-only"))[0] == 3
    assert exit_status(FileNotFoundError("no such submission"))[0] == 2
    assert exit_status(ValueError("bad value"))[0] == 2
