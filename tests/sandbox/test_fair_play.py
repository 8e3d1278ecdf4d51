"""Fair play: the schedule and every reported figure come from code no submission can touch.

Hostile fixtures (tests/submissions/<trick>/model.py) are graded in one sandboxed batch by the
real grader. Each ends `invalid` (or stopped by a limit), or its trick provably has no effect:
then the result holds the true parameter count, the scheduled epochs and optimizer updates, and
a model identical to `good` gives `good`'s predictions bit for bit. Side effects are checked
(forged files, code from a crafted model file, scratch space left behind), not only statuses.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings
from pipeline.grading import jobs, scoring
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox import exchange
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track

TRACK_NAME = "tiny"
TRICKS = {
    # trick -> (status, words the one-line message must contain)
    "replaces_grader_validation": (status.INVALID, "6,512,650 trainable parameters, over this track's budget"),
    "replaces_grader_counting": (status.INVALID, "the reported figures do not match the model: 7 trainable"),
    "patches_fit_and_compile": (status.OK, None),
    "patches_keras_with_custom_layer": (status.INVALID, "model.py replaces keras.Model.fit: the training schedule is "
                                                        "fixed for everyone"),
    "custom_train_step_extra_steps": (status.INVALID, "ThreeSteps overrides train_step"),
    "overrides_compile_optimizer_swap": (status.INVALID, "Net overrides compile"),
    "atexit_rewrites_result": (status.OK, None),
    "writes_16gb_to_scratch": (status.OUT_OF_DISK, "limits.disk_mb"),
    "writes_16gb_to_output": (status.OUT_OF_DISK, "limits.disk_mb"),
    "crafted_lambda_model_file": (status.OK, None),
    "corrupts_shared_arrays": (status.OK, None),
}
HONEST = ["good", "custom_layer", "subclassed_model"]
TRAIN_IMAGES, BATCH = 600, 64  # tiny_track()'s subset and schedule


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("fair-play"))
    add_fixtures(project / "submissions", [*TRICKS, *HONEST])
    results_dir = project / "results" / TRACK_NAME
    job = TrackJob(TRACK_NAME, tiny_track(), project / "submissions", project / "data" / "prepared" / "mnist",
                   results_dir)
    results = {result.submission: result for result in grade_track(job, GradingSettings(Grading(workers=2),
                                                                                         IsolationPolicy()))}
    logs = {name: (results_dir / f"{name}.log").read_text() for name in results}
    return results, logs


def predictions_hash(result):
    return result.per_seed[0].predictions_sha256





@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_every_trick_is_refused_or_stopped_or_has_no_effect(graded, trick):
    results, _ = graded
    expected_status, words = TRICKS[trick]
    result = results[trick]
    assert result.status == expected_status, (result.status, result.error)
    if words:
        assert words in result.error
    if result.status == status.OK:  # the trick had no effect: the true, scheduled figures
        assert len(result.history["loss"]) == tiny_track().schedule.epochs
        assert result.optimizer_updates == tiny_track().schedule.epochs * math.ceil(TRAIN_IMAGES / BATCH)


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_patched_fit_and_compile_never_reach_the_training(graded):
    results, logs = graded
    assert "PATCHED fit and compile" in logs["patches_fit_and_compile"]  # the patch did run, in the build step
    patched, good = results["patches_fit_and_compile"], results["good"]
    assert patched.custom_code is False  # model.py was never imported where the model trained
    # The same architecture and seed as `good`: 1 epoch of SGD gives the very same predictions.
    assert predictions_hash(patched) == predictions_hash(good)
    assert patched.trainable_params == good.trainable_params == 28 * 28 * 10 + 10


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_a_replaced_count_cannot_hide_a_model_over_the_budget(graded):
    results, _ = graded
    assert results["replaces_grader_validation"].trainable_params is None  # nothing of the lie is kept
    assert "10 " not in results["replaces_grader_validation"].error


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_an_atexit_hook_never_rewrites_the_results(graded):
    results, logs = graded
    forged = results["atexit_rewrites_result"]
    assert "FORGED" not in logs["atexit_rewrites_result"]  # the hook never ran
    assert forged.custom_code is True  # its custom layer made model.py load in the train step too
    assert forged.trainable_params == 28 * 28 * 10 + 10 + 1
    assert forged.validation_accuracy != 0.9999 and forged.train_seconds > 0.01


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_code_in_a_crafted_model_file_never_runs_in_the_train_step(graded):
    results, logs = graded
    log = logs["crafted_lambda_model_file"]
    assert "FILE CODE RAN in build" in log  # the Lambda was real, and saved into the file
    assert "FILE CODE RAN in train" not in log
    crafted = results["crafted_lambda_model_file"]
    assert crafted.custom_code is True  # built again from model.py's source, not loaded from the file
    assert predictions_hash(crafted) == predictions_hash(results["good"])


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_disk_hogs_are_stopped_and_leave_nothing_behind(graded):
    results, _ = graded
    for name in ("writes_16gb_to_scratch", "writes_16gb_to_output"):
        assert results[name].status == status.OUT_OF_DISK
    leftovers = list(Path(tempfile.gettempdir()).glob("gradebench-*-writes_16gb*"))
    assert leftovers == []


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_honest_custom_code_is_graded_and_flagged(graded):
    results, _ = graded
    assert results["good"].custom_code is False
    for name in ("custom_layer", "subclassed_model"):
        assert results[name].status == status.OK, results[name].error
        assert results[name].custom_code is True
        assert len(results[name].history["loss"]) == tiny_track().schedule.epochs


# --- the grader's cross-checks, on hand-made trainer outputs -----------------------------------


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class FakeData:
    """What cross_check reads of a track's data: the training and validation labels."""

    def __init__(self, train: int, y_val):
        self.inputs = jobs.TrainingInputs(np.zeros((train, 2, 2)), np.zeros(train, np.uint8), np.zeros((4, 2, 2)),
                                          np.asarray(y_val), np.zeros((1, 2, 2)), [2, 2], 3)


def honest_claims():
    track = tiny_track()
    y_val = np.array([0, 1, 2, 1])
    outputs = {exchange.WEIGHTS_FILE: npz(trainable_0=np.zeros((4, 3)), trainable_1=np.zeros(3),
                                          non_trainable_0=np.zeros(2)),
               exchange.VAL_PREDICTIONS_FILE: npy(np.eye(3)[[0, 1, 2, 0]].astype(np.float32))}
    result = {"status": "ok", "trainable_params": 15, "total_params": 17, "history": {"loss": [1.0]},
              "optimizer_updates": math.ceil(TRAIN_IMAGES / BATCH), "validation_accuracy": 0.75}
    return track, result, outputs, FakeData(TRAIN_IMAGES, y_val)


def test_cross_check_accepts_true_figures():
    track, result, outputs, data = honest_claims()
    assert scoring.cross_check(result, outputs, track, data) is None


@pytest.mark.parametrize("forged, words", [
    ({"trainable_params": 7}, "7 trainable / 17 total parameters reported, 15 / 17 counted"),
    ({"history": {"loss": [1.0, 0.5, 0.2]}}, "a history of 3 epochs, but the schedule trains 1"),
    ({"optimizer_updates": 30}, "30 optimizer updates, but the schedule makes 10"),
    ({"validation_accuracy": 0.9999}, "validation accuracy 0.9999 reported, 0.7500 counted"),
])
def test_cross_check_refuses_forged_figures(forged, words):
    track, result, outputs, data = honest_claims()
    assert words in scoring.cross_check({**result, **forged}, outputs, track, data)


def test_cross_check_needs_the_trained_weights():
    track, result, outputs, data = honest_claims()
    outputs.pop(exchange.WEIGHTS_FILE)
    assert scoring.cross_check(result, outputs, track, data) == "no readable trained weights"


def test_weights_are_counted_from_headers_without_decompressing(tmp_path):
    # A compressed archive declaring 400 million parameters (a few hundred KB on disk): counting it
    # must not inflate it in the grader's memory.
    path = tmp_path / "weights.npz"
    np.savez_compressed(path, trainable_0=np.zeros((20_000, 20_000), np.uint8), non_trainable_0=np.zeros(3))
    assert path.stat().st_size < 2_000_000
    assert scoring.count_weights(path.read_bytes()) == (400_000_000, 400_000_003)
    assert scoring.count_weights(npz(trainable_0=np.array([object()], dtype=object))) is None
    assert scoring.count_weights(b"not a zip") is None


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_the_arrays_every_job_shares_cannot_be_corrupted(graded, tmp_path):
    """The run writes the arrays once and links them into every job (grading/jobs.py): a student
    who could write them would poison everyone graded after them ("good" comes later in the batch)."""
    results, logs = graded
    log = logs["corrupts_shared_arrays"]
    assert "POISONED" not in log
    assert log.count("refused (") == 4  # in place, replace, chmod, through the link: each one refused
    project = make_project(tmp_path)
    add_fixtures(project / "submissions", ["good"])
    job = TrackJob(TRACK_NAME, tiny_track(), project / "submissions", project / "data" / "prepared" / "mnist",
                   project / "results" / TRACK_NAME)
    [alone] = grade_track(job, GradingSettings(Grading(workers=1), IsolationPolicy()))
    assert predictions_hash(alone) == predictions_hash(results["good"])
