"""Every honest way students write Keras is graded, and every mistake gets the exact fix.

Fixture submissions (tests/submissions/<behaviour>/) written the way course notes, the L42
handout and old tutorials write them, graded in one batch by the real grader in the real
sandbox on a tiny slice of MNIST.
"""

from __future__ import annotations

import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track

TRACK_NAME = "tiny"


def grade_all(submissions, prepared, results_dir) -> dict[str, dict]:
    job = TrackJob(TRACK_NAME, tiny_track(), submissions, prepared, results_dir)
    graded = grade_track(job, GradingSettings(Grading(workers=2), IsolationPolicy()))
    return {result.submission: result.model_dump() for result in graded}

GRADED_OK = {
    # behaviour: (trainable parameters, the layout the arrays were reshaped to)
    "sequential_without_input": 28 * 28 * 64 + 64 + 64 * 10 + 10,
    "sequential_add_flatten_input_shape": 28 * 28 * 32 + 32 + 32 * 10 + 10,
    "subclassed_model": 28 * 28 * 32 + 32 + 32 * 10 + 10,
    "custom_layer": 28 * 28 * 32 + 32 + 32 * 10 + 10,
    "channel_axis_input": 3 * 3 * 4 + 4 + 13 * 13 * 4 * 10 + 10,
    "flat_784_input": 28 * 28 * 32 + 32 + 32 * 10 + 10,
    "notebook_only": 28 * 28 * 32 + 32 + 32 * 10 + 10,
    "bom_and_crlf": 28 * 28 * 10 + 10,
    "subclassed_batchnorm_dropout": 28 * 28 * 64 + 64 + 2 * 64 + 64 * 10 + 10,
    # GRU(16) over 28 rows of 28 pixels (reset_after: two bias rows), LayerNorm, LSTM(16), Dense(10).
    "subclassed_rnn_rows": 3 * (28 * 16 + 16 * 16 + 2 * 16) + 2 * 16 + 4 * (16 * 16 + 16 * 16 + 16) + 16 * 10 + 10,
}
# The exact line each student reads.
INVALID_MESSAGES = {
    "keras1_functional_model": "model.py, line 15: Model(input=…, output=…) is the Keras 1 spelling: "
                               "write Model(inputs=inp, outputs=out)",
    "keras1_conv_layers": "model.py, line 10: Convolution2D(32, 3, 3, border_mode='same', activation='relu') is the "
                          "Keras 1 spelling (Keras 3 reads the numbers after the first as kernel size and strides): "
                          "write Conv2D(32, (3, 3), padding='same', activation='relu')",
    "np_utils_import": "model.py, line 4: keras.utils.np_utils is gone in Keras 3: use keras.utils.to_categorical "
                       "(grading supplies the labels, so model.py does not need it)",
    "loads_data_at_import": "model.py, line 5: loads data at import (mnist.load_data()); grading supplies the data "
                            "and has no network: keep only build_model in model.py",
    "exit_at_import": "model.py, line 3: calls exit() at import: grading imports model.py to build the model; "
                      "remove the exit() call",
    "wrong_input_shape": "model input shape is (None, 32, 32, 1); grading feeds 28x28 images as (28, 28), "
                         "(28, 28, 1) or (784,): use keras.Input(shape=input_shape)",
    "custom_initializer_function": "model.py: weight linear/kernel starts from an initialiser (small_random) that is "
                                   "not one of keras.initializers: use one of them, e.g. 'glorot_uniform', or "
                                   "keras.initializers.RandomNormal(stddev=0.01) for small random weights",
}
# Lines a student must never read in a log: TensorFlow's C++/absl start-up and runtime noise.
NOISE = ("oneDNN custom operations", "absl::InitializeLog", "I0000 ", "cpu_feature_guard", "use_unbounded_threadpool")


@pytest.fixture(scope="module")
def styles(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("styles"))
    submissions, results_dir = project / "submissions", project / "results" / TRACK_NAME
    add_fixtures(submissions, [*GRADED_OK, *INVALID_MESSAGES])
    results = grade_all(submissions, project / "data" / "prepared" / "mnist", results_dir)
    logs = {name: (results_dir / f"{name}.log").read_text() for name in results}
    return results, logs, results_dir


@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("behaviour", sorted(GRADED_OK))
def test_honest_style_is_graded_ok(styles, behaviour):
    results, logs, _ = styles
    result = results[behaviour]
    assert result["status"] == status.OK, (result["error"], logs[behaviour][-3000:])
    assert result["sandboxed"] is True
    assert result["trainable_params"] == GRADED_OK[behaviour]
    # Above chance (0.1) after one epoch on 600 images; a recurrent model learns slowest.
    assert result["test_accuracy"] > (0.12 if behaviour == "subclassed_rnn_rows" else 0.2)


@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("behaviour", sorted(INVALID_MESSAGES))
def test_mistake_gets_the_exact_fix(styles, behaviour):
    results, logs, _ = styles
    assert results[behaviour]["status"] == status.INVALID, logs[behaviour][-3000:]
    assert results[behaviour]["error"] == INVALID_MESSAGES[behaviour]


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_logs_are_free_of_tensorflow_noise_and_host_paths(styles):
    results, logs, _ = styles
    for name, log in logs.items():
        for noise in NOISE:
            assert noise not in log, (name, noise)
        assert "/opt/gradebench" not in (results[name]["error"] or ""), name
        assert ".venv" not in (results[name]["error"] or ""), name
    assert "[train] epoch 1/1" in logs["subclassed_model"]


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_the_code_graded_from_a_notebook_is_saved_beside_the_log(styles):
    _, _, results_dir = styles
    extracted = (results_dir / "notebook_only.model_from_notebook.py").read_text()
    assert "# [not Python, skipped by grading] %matplotlib inline" in extracted
    assert "# [not Python, skipped by grading] !pip install keras" in extracted
    assert "def build_model(input_shape, num_classes):" in extracted


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_unbuilt_and_reshaped_models_are_bit_identical_run_to_run(styles, tmp_path):
    """A second grading of the styles that are built or reshaped by the grader gives the same numbers."""
    results, _, _ = styles
    project = make_project(tmp_path)
    again = ["subclassed_model", "custom_layer", "channel_axis_input"]
    add_fixtures(project / "submissions", again)
    graded = grade_all(project / "submissions", project / "data" / "prepared" / "mnist", project / "results" / TRACK_NAME)
    for result in graded.values():
        first = results[result["submission"]]
        assert result["history"] == first["history"], result["submission"]
        assert result["test_accuracy"] == first["test_accuracy"], result["submission"]
        assert result["per_seed"][0]["predictions_sha256"] == first["per_seed"][0]["predictions_sha256"]
        assert result["custom_code"] == first["custom_code"]
