"""FLOPs per image, counted by the trainer with TensorFlow's profiler, match hand counts.

Hand counts follow the profiler's rules (docs/students/compute.md): 2 FLOPs per multiply-add in
Dense and Conv2D, 1 per output element for a bias add, 1 per window element for max-pooling,
5 per class for softmax, 0 for ReLU, tanh and sigmoid, and 0 for reshapes and inference Dropout.
"""

from __future__ import annotations

import shutil

import pytest

from pipeline import status
from pipeline.config import Grading, GradingSettings
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import REPO, add_fixtures, make_project, needs_bwrap, needs_mnist, tiny_track


def dense(inputs: int, units: int) -> int:
    """A Dense layer: a multiply-add per weight, then the bias."""
    return 2 * inputs * units + units


def conv2d(out_height: int, out_width: int, filters: int, kernel: int, channels: int) -> int:
    """A 'valid' Conv2D: a multiply-add per kernel weight per output value, then the bias."""
    outputs = out_height * out_width * filters
    return 2 * outputs * kernel * kernel * channels + outputs


def max_pool(out_height: int, out_width: int, channels: int, window: int = 2) -> int:
    return out_height * out_width * channels * window * window


SOFTMAX_10 = 5 * 10
PIXELS = 28 * 28
# submission: FLOPs per image for one forward pass at inference, counted by hand.
HAND_COUNTS = {
    "logistic_regression": dense(PIXELS, 10) + SOFTMAX_10,
    "l42_baseline": dense(PIXELS, 128) + dense(128, 128) + dense(128, 10) + SOFTMAX_10,
    "mlp_256_128": dense(PIXELS, 256) + dense(256, 128) + dense(128, 10) + SOFTMAX_10,
    "mlp_512_512_dropout": dense(PIXELS, 512) + dense(512, 512) + dense(512, 10) + SOFTMAX_10,
    "mlp_64_64_tanh": dense(PIXELS, 64) + dense(64, 64) + dense(64, 10),
    "small_cnn": (conv2d(26, 26, 32, 3, 1) + max_pool(13, 13, 32) + conv2d(11, 11, 64, 3, 32) + max_pool(5, 5, 64)
                  + dense(5 * 5 * 64, 10) + SOFTMAX_10),
    # A Conv2D model (tests/submissions).
    "channel_axis_input": conv2d(26, 26, 4, 3, 1) + max_pool(13, 13, 4) + dense(13 * 13 * 4, 10) + SOFTMAX_10,
    # Custom layers, traced to a graph: matmul + add (= Dense's count) twice, then Softmax.
    "custom_layer": dense(PIXELS, 32) + dense(32, 10) + SOFTMAX_10,
}
REFERENCE_NAMES = ["logistic_regression", "l42_baseline", "mlp_256_128", "mlp_512_512_dropout", "mlp_64_64_tanh",
                   "small_cnn"]


def test_hand_counts_are_what_the_docs_say():
    """The table in docs/students/compute.md shows these very numbers."""
    doc = (REPO / "docs" / "students" / "compute.md").read_text()
    for name in REFERENCE_NAMES:
        assert f"| {name} | {HAND_COUNTS[name]:,} |" in doc, name


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("compute"))
    submissions = project / "submissions"
    for name in REFERENCE_NAMES:
        shutil.copytree(REPO / "submissions" / name, submissions / name)
    add_fixtures(submissions, ["channel_axis_input", "custom_layer"])
    job = TrackJob("tiny", tiny_track(), submissions, project / "data" / "prepared" / "mnist",
                   project / "results" / "tiny")
    results = grade_track(job, GradingSettings(Grading(workers=2), IsolationPolicy()))
    logs = {result.submission: (job.results_dir / f"{result.submission}.log").read_text() for result in results}
    return {result.submission: result for result in results}, logs


@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_flops_per_image_match_hand_counts(graded, name):
    results, logs = graded
    result = results[name]
    assert result.status == status.OK, (result.error, logs[name][-2000:])
    counted = result.mflops_per_image * 1e6
    print(f"{name}: {counted:,.0f} FLOPs per image counted, {HAND_COUNTS[name]:,} by hand")
    assert counted == pytest.approx(HAND_COUNTS[name], rel=0.01)
    assert result.images_per_second > 0
    # The trainer logs what counting cost; it must stay under a second.
    line = next(line for line in logs[name].splitlines() if "MFLOPs per image (counted in" in line)
    assert float(line.split("counted in ")[1].split(" s")[0]) < 1.0, line


# In this process, without a sandbox: the counting function itself, on models of Keras' own layers.

def keras_flops(*layers_after_input, layout=(28, 28)):
    import keras

    from pipeline.sandbox.trainer import compute

    model = keras.Sequential([keras.Input(layout), *layers_after_input])
    return compute.keras_model_flops(model, layout)


def test_dense_and_conv2d_counts_in_process():
    from keras import layers

    assert keras_flops(layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(10)) == \
        dense(PIXELS, 32) + dense(32, 10)
    assert keras_flops(layers.Conv2D(8, 3, activation="relu"), layers.Flatten(), layers.Dense(10),
                       layout=(28, 28, 1)) == conv2d(26, 26, 8, 3, 1) + dense(26 * 26 * 8, 10)


def test_einsum_is_counted_like_a_matmul():
    """keras.ops.einsum and EinsumDense trace to Einsum, which TensorFlow's profiler has no count
    for: left at 0, a model could hide its arithmetic from the budget there."""
    from keras import layers

    assert keras_flops(layers.Flatten(), layers.EinsumDense("ab,bc->ac", output_shape=10, bias_axes="c")) == \
        dense(PIXELS, 10)
    # With broadcast dimensions: each of the 28 rows is a (28 x 16) product.
    assert keras_flops(layers.EinsumDense("...b,bc->...c", output_shape=16)) == 2 * 28 * 28 * 16


def test_a_loop_is_not_counted_as_nothing():
    """An LSTM runs in a While loop, whose body the profiler never sees: no count, not 0."""
    from keras import layers

    from pipeline.sandbox.trainer import compute

    with pytest.raises(compute.NotCountable, match="a loop, a condition"):
        keras_flops(layers.LSTM(8), layers.Dense(10))


def test_the_count_is_the_profilers_total():
    """For a graph holding only the prediction, the per-operation sum is what the profiler prints."""
    import keras
    import tensorflow as tf
    from keras import layers

    from pipeline.sandbox.trainer import compute

    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.BatchNormalization(), layers.Flatten(), layers.Dense(10, activation="softmax")])
    concrete = tf.function(lambda images: model(images, training=False)).get_concrete_function(
        tf.TensorSpec((1, 28, 28, 1), tf.float32))
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    profiled = tf.compat.v1.profiler.profile(concrete.graph, options=builder(builder.float_operation())
                                             .with_empty_output().build()).total_float_ops
    assert compute.keras_model_flops(model, (28, 28, 1)) == profiled > conv2d(26, 26, 8, 3, 1)


@needs_bwrap
@needs_mnist
@pytest.mark.slow
def test_a_compute_budget_holds_for_traced_models_too(tmp_path):
    """Custom layers are counted from their traced graph, and held to the budget: a matmul layer
    under it is graded, a convolution layer over it is refused before training, with its figure."""
    project = make_project(tmp_path)
    add_fixtures(project / "submissions", ["custom_layer", "custom_conv_layer"])
    job = TrackJob("budget", tiny_track(max_mflops_per_image=0.06), project / "submissions",
                   project / "data" / "prepared" / "mnist", project / "results" / "budget")
    results = {result.submission: result
               for result in grade_track(job, GradingSettings(Grading(workers=2), IsolationPolicy()))}
    assert results["custom_layer"].status == status.OK and results["custom_layer"].custom_code
    assert results["custom_layer"].mflops_per_image * 1e6 == pytest.approx(HAND_COUNTS["custom_layer"], rel=0.01)
    convolution = results["custom_conv_layer"]
    assert convolution.status == status.INVALID and convolution.custom_code
    assert convolution.error == ("model: 0.106 MFLOPs per image, over this track's budget of 0.06 "
                                 "(limits.max_mflops_per_image): use fewer or smaller convolutions, or pool earlier")
    assert convolution.train_seconds is None  # refused before training
    # By hand: the convolution and its bias, the Dense layer, softmax (ReLU counts 0).
    assert convolution.mflops_per_image * 1e6 == pytest.approx(
        conv2d(26, 26, 4, 3, 1) + dense(26 * 26 * 4, 10) + SOFTMAX_10, rel=0.01)
