"""Fair play: the schedule and every reported figure come from code no submission can touch.

Student code runs only in the build step, which sees no data and hands over data (a Keras config
or a traced graph); the train step never imports model.py. Hostile fixtures
(tests/submissions/<trick>/model.py), written the way a student who has read our source would, are
graded in one sandboxed batch by the real grader with honest twins. Each ends `invalid` (or
stopped by a limit), or its trick provably has no effect: the result holds the true parameter
count, the scheduled epochs and updates, a train time like its twin's, and its twin's predictions
bit for bit. Side effects are checked (forged files, code in a crafted model, scratch space left
behind), not only statuses.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings
from pipeline.grading import scoring
from pipeline.sandbox import pair
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox import exchange
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import MIRROR, add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track

TRACK_NAME = "tiny"
CONSTANTS = "as constants (arrays used in call(), or weights the model does not list), over this track's 1,024"
TRICKS = {
    # trick -> (status, words the one-line message must contain)
    "replaces_grader_validation": (status.INVALID, "model has 6,512,650 parameters (trainable or not, all count), "
                                                   "over this track's budget of 1,000,000"),
    "replaces_grader_counting": (status.OK, None),
    "patches_fit_and_compile": (status.OK, None),
    "patches_keras_with_custom_layer": (status.OK, None),
    "custom_train_step_extra_steps": (status.INVALID, "ThreeSteps overrides train_step"),
    "overrides_compile_optimizer_swap": (status.INVALID, "Net overrides compile"),
    "atexit_rewrites_result": (status.OK, None),
    "writes_16gb_to_scratch": (status.OUT_OF_DISK, "limits.disk_mb"),
    "writes_16gb_to_output": (status.OUT_OF_DISK, "limits.disk_mb"),
    "crafted_lambda_model_file": (status.OK, None),
    "corrupts_shared_arrays": (status.OK, None),
    # Issue 25's twelve: training outside the schedule, memorising, forged counts and figures.
    "pretrains_in_build": (status.OK, None),
    "ships_frozen_weights": (status.OK, None),
    "memorises_hidden_labels": (status.OK, None),
    "constants_carry_a_trained_network": (status.INVALID, f"model.py, KnowsTheAnswer.call: carries 25,408 values {CONSTANTS}"),
    "hides_weights_from_counts": (status.OK, None),
    "replaces_trainer_helpers": (status.OK, None),
    "replaces_the_clock": (status.OK, None),
    "swaps_optimizer_code": (status.OK, None),
    "amplifying_constraint": (status.OK, None),
    "trains_while_traced": (status.OK, None),
    "shadow_network_thread": (status.INVALID, CONSTANTS),
    "disables_the_checks": (status.INVALID, "model.py, Sneaky.call: runs Python at training time (tf.py_function): "
                                            "write it with keras.ops"),
}
# trick -> the honest twin graded in the same run whose predictions it must give, bit for bit.
TWINS = {
    "patches_fit_and_compile": "good", "pretrains_in_build": "good", "replaces_trainer_helpers": "good",
    "replaces_the_clock": "good", "swaps_optimizer_code": "good", "replaces_grader_counting": "scaled_softmax",
    "patches_keras_with_custom_layer": "scaled_softmax", "atexit_rewrites_result": "scaled_softmax",
    "amplifying_constraint": "custom_layer", "trains_while_traced": "custom_layer",
    "ships_frozen_weights": "ships_frozen_weights_without_the_file",
    "memorises_hidden_labels": "memorises_hidden_labels_without_the_file",
}
HONEST = ["good", "custom_layer", "subclassed_model", "scaled_softmax"]
TRAIN_IMAGES, BATCH = 600, 64  # tiny_track()'s subset and schedule


def train_at_home(hidden_units: int):
    """What a student does at home: train a network on MNIST's public training images."""
    import keras
    from pipeline.data.datasets import mnist

    raw = mnist.load_raw(MIRROR / "mnist")
    x, y = raw["x_train"][:2000].reshape(2000, 784).astype("float32") / 255.0, raw["y_train"][:2000]
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(hidden_units, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, verbose=0)
    return [np.asarray(w) for w in model.get_weights()], raw


def add_home_made_files(submissions: Path) -> None:
    """The files the hostile students ship beside model.py, and the same code without them."""
    for name in ("ships_frozen_weights", "memorises_hidden_labels"):
        shutil.copytree(submissions / name, submissions / f"{name}_without_the_file")
    (kernel, bias, *_), raw = train_at_home(64)
    np.savez(submissions / "ships_frozen_weights" / "pretrained.npz", kernel=kernel, bias=bias)
    # make_project's hidden split is the first 300 t10k images: the public files, shipped.
    np.savez(submissions / "memorises_hidden_labels" / "lookup.npz", x=raw["x_test"][:300], y=raw["y_test"][:300])
    (kernel_1, _, kernel_2, _), _ = train_at_home(32)
    np.savez(submissions / "constants_carry_a_trained_network" / "network.npz", kernel_1=kernel_1, kernel_2=kernel_2)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("fair-play"))
    add_fixtures(project / "submissions", [*TRICKS, *HONEST])
    add_home_made_files(project / "submissions")
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
    results, logs = graded
    expected_status, words = TRICKS[trick]
    result = results[trick]
    assert result.status == expected_status, (result.status, result.error, logs[trick][-2000:])
    if words:
        assert words in result.error
    if result.status == status.OK:  # the trick had no effect: the true, scheduled figures
        assert len(result.history["loss"]) == tiny_track().schedule.epochs
        assert result.optimizer_updates == tiny_track().schedule.epochs * math.ceil(TRAIN_IMAGES / BATCH)
    if trick in TWINS:
        twin = results[TWINS[trick]]
        assert twin.status == status.OK, twin.error
        assert predictions_hash(result) == predictions_hash(twin), f"{trick} is not {TWINS[trick]}"
        assert (result.trainable_params, result.total_params) == (twin.trainable_params, twin.total_params)
        assert twin.train_seconds / 5 < result.train_seconds < twin.train_seconds * 5


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_frozen_and_shipped_weights_are_counted_and_never_used(graded):
    results, logs = graded
    assert "loaded the home-trained feature extractor" in logs["ships_frozen_weights"]  # the trick did run
    frozen = results["ships_frozen_weights"]
    assert frozen.total_params == 784 * 64 + 64 + 64 * 10 + 10 and frozen.trainable_params == 64 * 10 + 10
    lookup = results["memorises_hidden_labels"]
    assert lookup.total_params == 784 * 300 + 300 + 300 * 10 + 10 * 10 + 10  # every frozen template counted
    assert lookup.trainable_params == 10 * 10 + 10
    assert lookup.public_accuracy < 0.9  # the lookup never reached training: no memorised score
    hidden = results["hides_weights_from_counts"]  # its layer answers 10 to every count it is asked
    assert (hidden.total_params, hidden.trainable_params) == (784 * 512 + 512 * 10, 784 * 512 + 512 * 10)


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_the_build_step_sees_no_data_and_its_training_is_lost(graded):
    _, logs = graded
    assert "no training data in the build sandbox" in logs["pretrains_in_build"]
    for name in ("replaces_trainer_helpers",):
        assert "replaced pipeline.sandbox.trainer.train.count_parameters" in logs[name]


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_patched_fit_and_compile_never_reach_the_training(graded):
    results, logs = graded
    assert "PATCHED fit and compile" in logs["patches_fit_and_compile"]  # the patch did run, in the build step
    patched, good = results["patches_fit_and_compile"], results["good"]
    assert patched.custom_code is False  # a Keras config: model.py was never imported where it trained
    assert patched.trainable_params == good.trainable_params == 28 * 28 * 10 + 10


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_a_replaced_count_cannot_hide_a_model_over_the_budget(graded):
    results, _ = graded
    assert results["replaces_grader_validation"].trainable_params == 6_512_650  # counted by the trainer
    assert "10 " not in results["replaces_grader_validation"].error


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_an_atexit_hook_never_rewrites_the_results(graded):
    results, logs = graded
    forged = results["atexit_rewrites_result"]
    assert "FORGED" not in logs["atexit_rewrites_result"]  # the hook never ran
    assert forged.custom_code is True  # its custom layer: traced in the build, trained as a graph
    assert forged.trainable_params == 28 * 28 * 10 + 10 + 1
    assert forged.validation_accuracy != 0.9999 and forged.train_seconds > 0.01


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_code_in_a_crafted_model_never_runs_in_the_train_step(graded):
    results, logs = graded
    log = logs["crafted_lambda_model_file"]
    assert "FILE CODE RAN in build" in log  # the Lambda was real, and ran while it was traced
    assert "FILE CODE RAN in train" not in log
    crafted = results["crafted_lambda_model_file"]
    assert crafted.custom_code is True  # traced: its Python stayed in the build step
    assert crafted.trainable_params == results["good"].trainable_params
    assert abs(crafted.validation_accuracy - results["good"].validation_accuracy) < 0.03


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
        self.inputs = pair.TrainingInputs(np.zeros((train, 2, 2)), np.zeros(train, np.uint8), np.zeros((4, 2, 2)),
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
    ({"trainable_params": 7}, "7 trainable parameters reported, 15 counted in the trained weights"),
    ({"total_params": 9}, "9 parameters reported, at least 15 counted in the trained weights"),
    ({"total_params": 2_000_000}, "2,000,000 parameters, over this track's budget of 1,000,000"),
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
    """The run writes the arrays once and links them into every job (grading/pair.py): a student
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


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_memorised_test_data_within_the_constant_budget_is_flagged_for_review(tmp_path):
    """What the constant cap still lets through, the integrity flag catches: a nearest-key lookup of
    the 300 hidden images in 3,000 constants scores far above its own validation accuracy."""
    from pipeline.data.datasets import mnist

    project = make_project(tmp_path)
    add_fixtures(project / "submissions", ["memorises_test_pixels"])
    raw = mnist.load_raw(MIRROR / "mnist")
    hidden = raw["x_test"][:300].reshape(300, 784).astype(np.float32) / 255.0  # the unit-scaled track's inputs
    pixels = np.argsort(hidden.var(axis=0))[-8:]  # the most telling pixels
    np.savez(project / "submissions" / "memorises_test_pixels" / "keys.npz", pixels=pixels,
             keys=hidden[:, pixels], labels=raw["y_test"][:300].astype(np.int32))
    base = tiny_track(max_constant_params=3000)
    track = base.model_copy(update={"schedule": base.schedule.model_copy(update={"scaling": "unit"})})
    job = TrackJob(TRACK_NAME, track, project / "submissions", project / "data" / "prepared" / "mnist",
                   project / "results" / TRACK_NAME)
    [result] = grade_track(job, GradingSettings(Grading(workers=1), IsolationPolicy()))
    assert result.status == status.OK, result.error
    assert result.constant_params == 300 * 8 + 300  # the keys and labels, counted as parameters
    assert result.test_accuracy > 0.9 and result.validation_accuracy < 0.5
    assert result.review.startswith("review: hidden-test accuracy far above validation (test ")
