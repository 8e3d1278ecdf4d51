"""The grader opens MLflow (`on_start`) once the first training is under way, exactly once, and
not at all when no submission gets past its build step: opening it earlier slowed the sandboxes'
own imports (README "Performance"), and a run where everything fails needs no early start."""

from __future__ import annotations

import threading

from pipeline.config import Grading, GradingSettings
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track


def grade_recording_starts(tmp_path, fixtures) -> list[str]:
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
def test_mlflow_opens_once_when_the_first_training_starts(tmp_path):
    starts = grade_recording_starts(tmp_path, ["good", "custom_layer", "syntax_error"])
    assert len(starts) == 1  # two workers, two trainings: one start
    assert starts[0] != threading.main_thread().name  # called from a worker, at its build's end


@needs_bwrap
@needs_mnist
def test_mlflow_does_not_open_early_when_every_build_fails(tmp_path):
    starts = grade_recording_starts(tmp_path, ["syntax_error", "no_build_function"])
    assert starts == []


def test_asking_whether_the_store_is_new_imports_no_mlflow(tmp_path):
    """`grade` asks first thing (a new store is created at once); importing MLflow there put
    0.6-1 s on every grade run's critical path, before any sandbox started, and pandas 0.3 s
    (MLflow imports it on the background thread, while the first model trains)."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.reporting.publish import MlflowPublisher; "
            f"new = MlflowPublisher('sqlite:///{tmp_path}/mlflow.db', 'mnist', 'mnist', None, None, "
            "dvc_lock=None, artifact_root=None).store_is_new(); "
            "print(new, 'mlflow' in sys.modules, 'pandas' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["True", "False", "False"]
