"""The sandbox: fixture submissions named by behaviour, graded in one batch by the real grader.

Each malicious fixture (tests/submissions/<behaviour>/model.py) tries something forbidden; the
tests check the side effect did not happen (the server got no request, the files do not exist,
the secret is not in the log, the hidden labels were not found), not only the status, and that
the rest of the batch was graded. The fixtures are copied to a temporary folder laid out like
the repository (data/prepared, submissions, results), with an attack.json beside the malicious
ones telling them what to attack. An unsandboxed control run shows the attacks are real.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings, HiddenSplit, load_params, resolve_grading
from pipeline.data import preprocess
from pipeline.data.layout import HIDDEN_Y_FILE
from pipeline.grading.executors.local import LocalExecutor
from pipeline.grading.orchestrate import TrackJob, grade_track, train_and_score
from pipeline.grading.scoring import TrackData
from pipeline.sandbox import cgroups, command, supervise
from pipeline.sandbox.isolation import (DEFAULT_BWRAP, UNSAFE_ENV_VAR, Isolation, IsolationPolicy, SandboxUnavailable,
                                        choose_isolation, probe_bwrap)
from tests.helpers import (FIXTURES, LOG_TAIL_BYTES, MESSAGE_HINTS, MIRROR, REPO, add_fixtures, bwrap_problem,
                           make_project, needs_bwrap, needs_mnist, tiny_track)

TRACK_NAME = "tiny"

# Behaviour -> the statuses it may end in. Malicious-but-functional fixtures may end ok or
# crashed; what matters for them is checked by the side-effect tests below.
EXPECTED = {
    "good": {status.OK},
    "syntax_error": {status.INVALID},
    "missing_package": {status.INVALID},
    "no_build_function": {status.INVALID},
    "returns_not_a_model": {status.INVALID},
    "wrong_input_shape": {status.INVALID},
    "wrong_output_size": {status.INVALID},
    "too_many_parameters": {status.INVALID},
    "nan_loss": {status.DIVERGED},
    "raises_in_training": {status.CRASHED},
    "sleeps_past_limit": {status.TIMEOUT},
    "allocates_50gb": {status.OUT_OF_MEMORY},
    "fork_bomb": {status.CRASHED},
    "prints_100mb": {status.OK},
    "searches_hidden_labels": {status.OK},
    "http_to_localhost": {status.OK},
    "writes_outside": {status.OK},
    "reads_env_secrets": {status.OK},
    "kills_parent": {status.OK, status.CRASHED},
}
class RecordingServer:
    """An HTTP server on every interface of this machine that records each request it gets."""

    def __init__(self):
        self.requests: list[str] = []
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                recorded.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"reached\n")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def urls(self) -> list[str]:
        hosts = ["127.0.0.1", "localhost"]
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing address
            hosts.append(probe.getsockname()[0])
        except OSError:
            pass
        finally:
            probe.close()
        return [f"http://{host}:{self.port}/" for host in dict.fromkeys(hosts)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Attack:
    """What the malicious fixtures are told to attack, and where the test looks for effects."""

    project: Path
    token: str = field(default_factory=lambda: f"sandbox-escape-{uuid.uuid4().hex[:12]}")
    secret: str = field(default_factory=lambda: f"secret-{uuid.uuid4().hex}")
    server: RecordingServer | None = None
    escaped: list[Path] = field(default_factory=list)  # targets that existed after grading

    @property
    def drop_dir(self) -> Path:
        return self.project / "drop"

    def write_targets(self, include_real_repo: bool) -> list[Path]:
        """Files writes_outside tries to create (and that must not exist afterwards)."""
        targets = [
            self.project / "submissions" / "good" / self.token,            # another submission
            self.project / "submissions" / "writes_outside" / self.token,  # its own folder
            self.project / "results" / TRACK_NAME / f"{self.token}.json",  # the results
            self.project / "data" / "prepared" / "mnist" / self.token,     # the prepared data
            self.project / f"{self.token}.txt",                            # the project root
        ]
        if include_real_repo:
            targets += [REPO / f"{self.token}.txt", REPO / "pipeline" / f"{self.token}.py",
                        REPO / "pipeline" / self.token]  # where /opt/gradebench/pipeline/<token> would land
        return targets

    def sandbox_aliases(self) -> list[str]:
        """The same places as the sandbox names them (its package and its own folder)."""
        return [f"{command.SANDBOX_PACKAGE_ROOT}/pipeline/{self.token}", f"{command.SANDBOX_SUBMISSION}/{self.token}"]

    def arm(self, submissions: Path, include_real_repo: bool = True) -> None:
        self.drop_dir.mkdir(exist_ok=True)
        hidden_labels = self.project / "data" / "prepared" / "mnist" / HIDDEN_Y_FILE
        plans = {
            "searches_hidden_labels": {"guesses": [str(hidden_labels)], "drop_dir": str(self.drop_dir)},
            "writes_outside": {"targets": [str(path) for path in self.write_targets(include_real_repo)]
                               + (self.sandbox_aliases() if include_real_repo else [])},
            "kills_parent": {"grader_pid": os.getpid()},
        }
        if self.server is not None:
            plans["http_to_localhost"] = {"urls": self.server.urls()}
        for name, plan in plans.items():
            if (submissions / name).is_dir():
                (submissions / name / "attack.json").write_text(json.dumps(plan))


@dataclass
class Batch:
    results: dict[str, dict]
    logs: dict[str, str]
    attack: Attack
    results_dir: Path


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    """Every fixture graded together by grade_track, sandboxed, two at a time."""
    if bwrap_problem() is not None or not (MIRROR / "mnist").exists():
        pytest.skip("needs bubblewrap and the MNIST files")
    project = make_project(tmp_path_factory.mktemp("project"))
    submissions, results_dir = project / "submissions", project / "results" / TRACK_NAME
    add_fixtures(submissions, EXPECTED)
    attack = Attack(project, server=RecordingServer())
    attack.arm(submissions)
    # A server the sandbox must not reach, checked here to work from outside.
    import urllib.request
    with urllib.request.urlopen(attack.server.urls()[0] + "self-test", timeout=5) as response:
        assert response.status == 200
    attack.server.requests.clear()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GRADEBENCH_TEST_SECRET", attack.secret)
            patch.delenv(UNSAFE_ENV_VAR, raising=False)
            job = TrackJob(TRACK_NAME, tiny_track(), submissions, project / "data" / "prepared" / "mnist", results_dir)
            graded = grade_track(job, GradingSettings(Grading(workers=2), IsolationPolicy()))
    finally:
        attack.server.close()
        escaped = [path for path in attack.write_targets(include_real_repo=True) if path.exists()]
        for path in escaped:
            path.unlink()  # never leave them in the real repository, even if a test fails
    attack.escaped = escaped
    results = {result.submission: result.model_dump() for result in graded}
    logs = {name: (results_dir / f"{name}.log").read_text() for name in results}
    return Batch(results, logs, attack, results_dir)


# --- the batch --------------------------------------------------------------------------------


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_every_submission_gets_a_sandboxed_result(batch):
    assert sorted(batch.results) == sorted(EXPECTED)
    for name, result in batch.results.items():
        assert result["status"] in status.ALL, name
        assert result["sandboxed"] is True, name
        assert (batch.results_dir / f"{name}.json").exists()


@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_status_and_message(batch, behaviour):
    result = batch.results[behaviour]
    assert result["status"] in EXPECTED[behaviour], (result["status"], result["error"])
    if behaviour in MESSAGE_HINTS:
        assert MESSAGE_HINTS[behaviour] in result["error"]
    if result["error"] is not None:
        assert "\n" not in result["error"] and "\x1b" not in result["error"], "messages are one line"


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_good_submission_is_trained_and_scored(batch):
    good = batch.results["good"]
    assert good["status"] == status.OK and good["test_accuracy"] > 0.3
    assert good["trainable_params"] == 28 * 28 * 10 + 10


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_hidden_labels_are_not_visible(batch):
    log = batch.logs["searches_hidden_labels"]
    assert "HUNT RESULT: found 0 label file(s)" in log
    assert list(batch.attack.drop_dir.iterdir()) == []
    # Cheating would overwrite the predictions with the true labels: a perfect score.
    assert batch.results["searches_hidden_labels"]["test_accuracy"] < 0.99


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_no_network_not_even_to_this_machine(batch):
    assert batch.attack.server.requests == []
    log = batch.logs["http_to_localhost"]
    assert "NETWORK REACHED" not in log
    assert log.count("network blocked for") == len(batch.attack.server.urls())


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_writes_outside_the_scratch_folder_do_not_land(batch):
    assert batch.attack.escaped == []
    for path in batch.attack.write_targets(include_real_repo=True):
        assert not path.exists(), path
    log = batch.logs["writes_outside"]
    # Whether a write is refused or lands on the sandbox's private /tmp (where a clone under /tmp,
    # and pytest's tmp_path, would appear), what matters is the host: none of the files above
    # exists. Any write that "succeeded" inside did so in a folder that vanished with the sandbox.
    for line in log.splitlines():
        if line.startswith("WROTE "):
            assert line.startswith("WROTE /tmp/"), line


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_grader_environment_is_not_visible(batch):
    assert "ENVIRON:" in batch.logs["reads_env_secrets"]  # it did dump what it could see
    for name, log in batch.logs.items():
        assert batch.attack.secret not in log, name
        assert batch.attack.secret not in json.dumps(batch.results[name]), name
    assert "GRADEBENCH_TEST_SECRET" not in batch.logs["reads_env_secrets"]


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_killing_the_parent_does_not_stop_grading(batch):
    # The grader (this process) is alive and graded every other submission: see the first test.
    assert "parent" in batch.logs["kills_parent"]
    assert batch.results["good"]["status"] == status.OK


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_limits_stop_runaway_submissions_by_their_own_limit(batch):
    limit = tiny_track().limits.wall_seconds
    assert batch.results["sleeps_past_limit"]["wall_seconds"] == pytest.approx(limit, abs=5)
    # Memory and process limits stop these, not the wall clock. (How fast is a benchmark
    # question: on a loaded machine TensorFlow's start-up alone can take most of the limit.)
    assert batch.results["allocates_50gb"]["status"] == status.OUT_OF_MEMORY
    assert "limits.memory_mb" in batch.results["allocates_50gb"]["error"]
    assert "limits.max_processes" in batch.results["fork_bomb"]["error"]
    # Stopped at the limit, not after swapping its way through 50 GB.
    peak = batch.results["allocates_50gb"]["peak_memory_mb"]
    assert peak is None or peak <= tiny_track().limits.memory_mb + 1


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_a_flood_of_output_keeps_only_the_tail(batch):
    log = batch.logs["prints_100mb"]
    assert len(log.encode()) <= LOG_TAIL_BYTES + 200
    assert "earlier bytes of output were dropped" in log
    assert "LAST LINE OF THE FLOOD" in log


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_cgroups_are_removed_after_the_runs(batch):
    for directory in cgroups._controller_dirs().values():
        assert not list(directory.glob(f"{cgroups.CGROUP_PREFIX}{os.getpid()}-*")), directory


# --- without bubblewrap -----------------------------------------------------------------------


def fake_prepared(root: Path) -> Path:
    """Random arrays shaped like MNIST: enough for grade_track to reach the sandbox decision."""
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n, dtype=np.uint8)  # noqa: E731
    data = preprocess.PreparedData(images(20), labels(20), images(10), labels(10), images(10), labels(10),
                                   [str(d) for d in range(10)])
    prepared = root / "data" / "prepared" / "mnist"
    preprocess.write_prepared(data, prepared, {})
    return prepared


def test_refuses_to_grade_without_a_sandbox_unless_opted_in(tmp_path, monkeypatch):
    monkeypatch.delenv(UNSAFE_ENV_VAR, raising=False)
    prepared = fake_prepared(tmp_path)
    add_fixtures(tmp_path / "submissions", ["good"])
    job = TrackJob(TRACK_NAME, tiny_track(), tmp_path / "submissions", prepared, tmp_path / "results")
    with pytest.raises(SandboxUnavailable) as refused:
        grade_track(job, GradingSettings(Grading(workers=1), IsolationPolicy(bwrap="/nonexistent/bwrap")))
    message = str(refused.value)
    assert "/nonexistent/bwrap" in message and "unsafe_no_sandbox" in message
    assert "apt-get install bubblewrap" in message
    assert not list((tmp_path / "results").glob("*.json")), "nothing may run before the refusal"
    assert isinstance(refused.value, OSError)  # the CLI reports setup errors with exit status 1


def test_a_submission_folder_linking_to_the_project_is_invalid_without_running(tmp_path):
    prepared = fake_prepared(tmp_path)
    (tmp_path / "submissions").mkdir()
    link = tmp_path / "submissions" / "sneaky"
    link.symlink_to(tmp_path)  # the whole project, hidden labels included
    data = TrackData.load(prepared, tiny_track(), HiddenSplit())
    never_runs = LocalExecutor(data.inputs, Isolation(bwrap="/nonexistent/never-run"), 1)
    result, log = train_and_score(link, TRACK_NAME, tiny_track(), data, never_runs, echo=print)
    assert result["status"] == status.INVALID and "plain folder" in result["error"]


def test_opt_in_by_environment_variable_warns_loudly(capsys):
    # The environment is read once, where the grading command resolves its settings.
    policy = resolve_grading(load_params(REPO / "params.yaml"), environ={UNSAFE_ENV_VAR: "1"}).isolation
    isolation = choose_isolation(IsolationPolicy(policy.unsafe_no_sandbox, policy.opted_in_by, "/nonexistent/bwrap"))
    assert not isolation.sandboxed
    warning = capsys.readouterr().err
    assert "WITHOUT a sandbox" in warning and UNSAFE_ENV_VAR in warning


def test_isolation_never_reads_the_environment_of_the_process_that_runs_the_job(monkeypatch):
    # A Ray worker whose own environment opts in must still refuse: only the driver's policy counts.
    monkeypatch.setenv(UNSAFE_ENV_VAR, "1")
    with pytest.raises(SandboxUnavailable):
        choose_isolation(IsolationPolicy(bwrap="/nonexistent/bwrap"))


@needs_bwrap
def test_a_working_bubblewrap_is_used_even_when_opted_in():
    assert choose_isolation(IsolationPolicy(unsafe_no_sandbox=True, opted_in_by="test")).sandboxed


@needs_mnist
@pytest.mark.slow
def test_unsandboxed_control_run_shows_the_attacks_are_real(tmp_path, capsys, monkeypatch):
    """With the opt-in and no bubblewrap the same fixtures succeed: the sandbox tests are meaningful."""
    monkeypatch.delenv(UNSAFE_ENV_VAR, raising=False)
    project = make_project(tmp_path)
    submissions = project / "submissions"
    add_fixtures(submissions, ["good", "searches_hidden_labels", "http_to_localhost", "writes_outside"])
    attack = Attack(project, server=RecordingServer())
    attack.arm(submissions, include_real_repo=False)  # only temporary paths in the control run
    try:
        job = TrackJob(TRACK_NAME, tiny_track(), submissions, project / "data" / "prepared" / "mnist",
                       project / "results" / TRACK_NAME)
        policy = IsolationPolicy(unsafe_no_sandbox=True, opted_in_by="test", bwrap="/nonexistent/bwrap")
        graded = [result.model_dump() for result in grade_track(job, GradingSettings(Grading(workers=2), policy))]
    finally:
        attack.server.close()
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    results = {result["submission"]: result for result in graded}
    assert all(result["sandboxed"] is False for result in results.values())
    assert results["good"]["status"] == status.OK
    # Unsandboxed it finds the labels and copies them out. (Its atexit overwrite of the predictions
    # no longer scores 1.0 even here: model.py runs only in the build step, which ends with os._exit
    # and never sees the predictions; README "Fair play".)
    assert list(attack.drop_dir.iterdir())
    assert "HUNT RESULT: found 0" not in (project / "results" / TRACK_NAME / "searches_hidden_labels.log").read_text()
    assert attack.server.requests  # it reached the server
    assert all(path.exists() for path in attack.write_targets(include_real_repo=False))
    # The control run never touches the repository.
    assert not [*REPO.glob("sandbox-escape-*"), *(REPO / "pipeline").glob("sandbox-escape-*")]


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_memory_limit_without_cgroups_falls_back_to_rlimit(tmp_path):
    project = make_project(tmp_path)
    prepared = project / "data" / "prepared" / "mnist"
    isolation = Isolation(bwrap=probe_bwrap(DEFAULT_BWRAP)[0], use_cgroups=False)
    data = TrackData.load(prepared, tiny_track(), HiddenSplit())
    with LocalExecutor(data.inputs, isolation, 1) as executor:
        result, log = train_and_score((FIXTURES / "allocates_50gb").resolve(), TRACK_NAME, tiny_track(), data,
                                      executor, echo=lambda line: None)
    assert result["status"] == status.OUT_OF_MEMORY, (result["error"], log[-2000:])
    assert result["peak_memory_mb"] is None  # no cgroup was used


# --- pieces -----------------------------------------------------------------------------------


def test_output_tail_is_bounded_and_marks_what_it_dropped():
    reader, writer = os.pipe()
    lines = []
    with open(reader, "rb", buffering=0) as stream:
        tail = supervise.OutputTail(stream, 1000, lines.append)
        with open(writer, "wb") as sink:
            sink.write(b"line\n" * 100_000 + b"y" * 3_000_000 + b"\nend\n")
        text = tail.text()
    assert text.startswith("[gradebench: ") and text.endswith("end\n")
    assert len(text) < 1100
    assert lines[-1] == "end" and len(lines) == 100_002
    assert max(len(line) for line in lines) <= supervise.OutputTail.MAX_LINE


def test_messages_become_one_line():
    keras_error = ("training failed: RuntimeError: Exception encountered when calling Fragile.call().\n\n"
                   "\x1b[1mthis layer breaks\x1b[0m\n\nArguments received by Fragile.call():\n  • inputs=...")
    assert status.one_line(keras_error) == ("training failed: RuntimeError: Exception encountered when calling "
                                            "Fragile.call(). this layer breaks")
    assert len(status.one_line("x" * 5000)) == status.MAX_MESSAGE_CHARS


def test_bwrap_exit_codes_map_to_signals():
    assert command.bwrap_returncode(137) == -9
    assert command.bwrap_returncode(1) == 1
    assert command.bwrap_returncode(None) is None


@needs_bwrap
def test_sandbox_command_binds_only_what_it_needs(tmp_path):
    submission = tmp_path / "submissions" / "alice"
    submission.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("job.json", "public.npz", "hidden_x.npy"):
        (work / name).write_bytes(b"")
    (work / "build").mkdir()
    (work / "control").mkdir()
    isolation = choose_isolation()
    for step in ("build", "train"):
        argv = command.bwrap_command(isolation, step, submission, work, threads=1, seed=0,
                                    disk_bytes=2**30, status_fd=3)
        sources = {argv[i + 1] for i, word in enumerate(argv) if word in ("--bind", "--ro-bind")}
        writable = {argv[i + 1] for i, word in enumerate(argv) if word == "--bind"}
        assert str(REPO) not in sources and str(REPO / "data") not in sources
        assert str(REPO / "pipeline") in sources
        # Only the build step (the one that runs student code) sees the submission.
        assert (str(submission.resolve()) in sources) == (step == "build")
        # The scratch folder is never bound whole: only the step's own output folder is writable.
        assert writable == {str(work.resolve() / ("build" if step == "build" else "out"))}
        # The build step (student code) sees no data: neither the public arrays nor the hidden inputs.
        assert (str(work.resolve() / "hidden_x.npy") in sources) == (step == "train")
        assert (str(work.resolve() / "public.npz") in sources) == (step == "train")
    assert "--clearenv" in argv and "--unshare-all" in argv and "--cap-drop" in argv
    environment = {argv[i + 1] for i, word in enumerate(argv) if word == "--setenv"}
    assert environment <= set(command.sandbox_environment("h", "t", "p", 1, 0, "x"))


def test_the_next_grader_sweeps_scratch_folders_of_dead_graders(tmp_path):
    from pipeline.sandbox import leftovers

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that is gone
    orphan = tmp_path / f"gradebench-{dead.pid}-alice-x1y2"
    running = tmp_path / f"gradebench-{os.getpid()}-bob-x1y2"  # this (live) process's own
    unrelated = tmp_path / "gradebench-notapid"
    for folder in (orphan, running, unrelated):
        (folder / "out").mkdir(parents=True)
        (folder / "hidden_x.npy").write_bytes(b"hidden inputs")
    assert leftovers.sweep(tmp_path) == [orphan]
    assert not orphan.exists() and running.exists() and unrelated.exists()
