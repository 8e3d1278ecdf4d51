"""The grader opens MLflow (`on_start`) once the first training is under way, exactly once, and
not at all when no submission gets past its build step: opening it earlier slowed the sandboxes'
own imports (README "Performance"), and a run where everything fails needs no early start.
When the trainings leave a core free (one resubmission) nothing competes: it opens at once."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from pipeline.config import Grading, GradingSettings
from pipeline.grading import orchestrate
from pipeline.grading.orchestrate import TrackJob, grade_track, spare_core
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track


def grade_recording_starts(tmp_path, fixtures, monkeypatch, cores: int = 2) -> list[str]:
    monkeypatch.setattr(orchestrate, "usable_cores", lambda: cores)
    project = make_project(tmp_path)
    add_fixtures(project / "submissions", fixtures)
    starts = []

    def on_start():
        starts.append(threading.current_thread().name)

    job = TrackJob("tiny", tiny_track(), project / "submissions", project / "data" / "prepared" / "mnist",
                   project / "results" / "tiny")
    graded = grade_track(job, GradingSettings(Grading(workers=2), IsolationPolicy()), on_start=on_start)
    assert len(graded) == len(fixtures)
    return starts


@needs_bwrap
@needs_mnist
def test_mlflow_opens_once_when_the_first_training_starts(tmp_path, monkeypatch):
    starts = grade_recording_starts(tmp_path, ["good", "custom_layer", "syntax_error"], monkeypatch)
    assert len(starts) == 1  # two workers, two trainings: one start
    assert starts[0] != threading.main_thread().name  # called from a worker, at its build's end


@needs_bwrap
@needs_mnist
def test_mlflow_does_not_open_early_when_every_build_fails(tmp_path, monkeypatch):
    starts = grade_recording_starts(tmp_path, ["syntax_error", "no_build_function"], monkeypatch)
    assert starts == []


@needs_bwrap
@needs_mnist
def test_mlflow_opens_at_once_when_a_core_is_free(tmp_path, monkeypatch):
    # one resubmission on 2 cores: its build fails, but the store was opened before it started
    starts = grade_recording_starts(tmp_path, ["syntax_error"], monkeypatch, cores=2)
    assert starts == [threading.main_thread().name]


def test_a_core_is_free_when_fewer_trainings_than_cores_run(monkeypatch):
    monkeypatch.setattr(orchestrate, "usable_cores", lambda: 2)
    local = SimpleNamespace(name="local", workers=2)
    assert spare_core(local, trainings=1, threads=1)      # one resubmission
    assert not spare_core(local, trainings=5, threads=1)  # a batch fills both cores
    assert not spare_core(local, trainings=1, threads=2)  # one training on both cores
    assert spare_core(SimpleNamespace(name="ray", workers=8), trainings=50, threads=1)  # trains elsewhere
