"""The Keras 1/2 -> 3 fix table: one test per entry, each real Keras raising on real student code.

Every case writes a small model.py the way an old tutorial or course handout would, loads and
builds it through the student contract (as the sandboxed trainer does), and checks the exact
one-line message a student gets.
"""

from __future__ import annotations

import textwrap

import pytest

from pipeline.sandbox.trainer import quiet_logs  # noqa: F401 - TensorFlow without its start-up lines
from pipeline import status
from pipeline.sandbox.trainer import contract as submission
from pipeline.status import SubmissionFailure
from pipeline.sandbox.trainer import keras_fixes

HEADER = "import keras\nfrom keras import layers\n\n\ndef build_model(input_shape, num_classes):\n"
BUILD_LINE = 6  # the first line inside build_model


def verdict(tmp_path, source: str) -> str:
    """The message for a submission whose model.py is `source` (it must fail)."""
    (tmp_path / "model.py").write_text(source)
    with pytest.raises(SubmissionFailure) as failure:
        module = submission.load_module(tmp_path, tmp_path)
        model = submission.build(module, (28, 28), 10)
        submission.validate(model, (28, 28), 10, 1_000_000)
    assert failure.value.status == status.INVALID
    return failure.value.message


def in_build(line: str) -> str:
    """A build_model whose first line is `line`, then a valid model."""
    return HEADER + f"    {line}\n" + "    inputs = keras.Input(shape=input_shape)\n" \
        "    return keras.Model(inputs, layers.Dense(num_classes)(layers.Flatten()(inputs)))\n"


# Keyword arguments: each renamed one, in a call where Keras 3 rejects it.
ARGUMENT_CASES = {
    "border_mode": ("layers.Conv2D(8, (3, 3), border_mode='same')", "border_mode= is the Keras 1 name: write padding='same'"),
    "subsample": ("layers.Conv2D(8, (3, 3), subsample=(2, 2))", "subsample= is the Keras 1 name: write strides=(2, 2)"),
    "init": ("layers.Dense(10, init='uniform')", "init= is the Keras 1 name: write kernel_initializer='uniform'"),
    "W_regularizer": ("layers.Dense(10, W_regularizer=keras.regularizers.l2(0.01))",
                      "W_regularizer= is the Keras 1 name: write kernel_regularizer=keras.regularizers.l2(0.01)"),
    "b_regularizer": ("layers.Dense(10, b_regularizer=keras.regularizers.l2(0.01))",
                      "b_regularizer= is the Keras 1 name: write bias_regularizer=keras.regularizers.l2(0.01)"),
    "W_constraint": ("layers.Dense(10, W_constraint=keras.constraints.MaxNorm(2))",
                     "W_constraint= is the Keras 1 name: write kernel_constraint=keras.constraints.MaxNorm(2)"),
    "b_constraint": ("layers.Dense(10, b_constraint=keras.constraints.MaxNorm(2))",
                     "b_constraint= is the Keras 1 name: write bias_constraint=keras.constraints.MaxNorm(2)"),
    "output_dim": ("layers.Dense(output_dim=10)", "output_dim= is the Keras 1 name: write units=10"),
    "nb_filter": ("layers.Conv2D(nb_filter=8, kernel_size=3)", "nb_filter= is the Keras 1 name: write filters=8"),
    "nb_row": ("layers.Conv2D(8, nb_row=3, nb_col=3)",
               "nb_row= and nb_col= are Keras 1 names: write kernel_size=(rows, cols)"),
    "nb_col": ("layers.Conv2D(8, nb_col=3, nb_row=3)",
               "nb_row= and nb_col= are Keras 1 names: write kernel_size=(rows, cols)"),
    "filter_length": ("layers.Conv1D(8, filter_length=3)", "filter_length= is the Keras 1 name: write kernel_size=3"),
    "pool_length": ("layers.MaxPooling1D(pool_length=2)", "pool_length= is the Keras 1 name: write pool_size=2"),
    "stride": ("layers.MaxPooling1D(2, stride=2)", "stride= is the Keras 1 name: write strides=2"),
    "p": ("layers.Dropout(p=0.5)", "p= is the Keras 1 name: write rate=0.5"),
    "dim_ordering": ("layers.MaxPooling2D((2, 2), dim_ordering='th')",
                     "dim_ordering= is the Keras 1 name: write data_format='channels_last' (or 'channels_first')"),
    "lr": ("keras.optimizers.SGD(lr=0.01)",
           "lr= is the Keras 1/2 name of learning_rate=, but model.py only builds the model: the track's schedule "
           "sets the optimizer and learning rate for everyone, so remove it"),
}


def test_every_renamed_argument_has_a_case():
    assert set(ARGUMENT_CASES) | {"nb_epoch"} == set(keras_fixes.RENAMED_ARGUMENTS)


@pytest.mark.parametrize("argument", sorted(ARGUMENT_CASES))
def test_renamed_argument(tmp_path, argument):
    line, fix = ARGUMENT_CASES[argument]
    assert verdict(tmp_path, in_build(line)) == f"model.py, line {BUILD_LINE}: {fix}"


def test_nb_epoch_in_a_fit_call_at_import(tmp_path):
    source = ("import numpy as np\nimport keras\n\nmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
              "model.fit(np.zeros((8, 4)), np.zeros((8, 2)), nb_epoch=10)\n")
    assert verdict(tmp_path, source) == (
        "model.py, line 5: nb_epoch= is the Keras 1/2 name of epochs=, but model.py only builds the model: the "
        "track's schedule sets the number of epochs for everyone, so remove it")


def test_model_input_output(tmp_path):
    source = textwrap.dedent("""\
        from keras.layers import Input, Dense, Flatten
        from keras.models import Model


        def get_model():
            inp = Input(shape=(28, 28))
            hidden = Dense(10, activation='softmax')(Flatten()(inp))
            return Model(input=inp, output=hidden)
        """)
    assert verdict(tmp_path, source) == ("model.py, line 8: Model(input=…, output=…) is the Keras 1 spelling: "
                                         "write Model(inputs=inp, outputs=hidden)")


def test_keras1_convolution_is_caught_before_keras_misreads_it(tmp_path):
    # Without border_mode Keras 3 accepts this and silently trains with strides=3.
    source = in_build("conv = layers.Convolution2D(32, 3, 3)  # a 3x3 kernel in Keras 1")
    assert verdict(tmp_path, source) == (
        "model.py, line 6: Convolution2D(32, 3, 3) is the Keras 1 spelling (Keras 3 reads the numbers after the "
        "first as kernel size and strides): write Conv2D(32, (3, 3))")


def test_keras1_convolution_with_keras1_arguments(tmp_path):
    source = in_build("conv = layers.Convolution2D(32, 5, 5, border_mode='valid', subsample=(2, 2))")
    assert verdict(tmp_path, source) == (
        "model.py, line 6: Convolution2D(32, 5, 5, border_mode='valid', subsample=(2, 2)) is the Keras 1 spelling "
        "(Keras 3 reads the numbers after the first as kernel size and strides): "
        "write Conv2D(32, (5, 5), padding='valid', strides=(2, 2))")


def test_keras3_conv2d_with_strides_is_left_alone(tmp_path):
    (tmp_path / "model.py").write_text(in_build("conv = layers.Conv2D(32, 3, 2)"))
    assert keras_fixes.lint(submission.read_source(tmp_path)) is None


@pytest.mark.parametrize("module", sorted(keras_fixes.REMOVED_MODULES))
def test_removed_module(tmp_path, module):
    name = {"keras.utils.np_utils": "to_categorical", "keras.utils.vis_utils": "plot_model"}.get(module, "Dense")
    message = verdict(tmp_path, f"from {module} import {name}\n")
    replacement = keras_fixes.REMOVED_MODULES[module]
    if replacement == "keras.layers":
        assert message == f"model.py, line 1: {module} is gone in Keras 3: write from keras.layers import Dense"
    elif module == "keras.utils.np_utils":
        assert message == ("model.py, line 1: keras.utils.np_utils is gone in Keras 3: use keras.utils.to_categorical "
                           "(grading supplies the labels, so model.py does not need it)")
    else:
        assert message == f"model.py, line 1: {module} is gone in Keras 3: use {replacement}"


def test_np_utils_from_keras_utils(tmp_path):
    message = verdict(tmp_path, "import keras\nfrom keras.utils import np_utils\n")
    assert message == ("model.py, line 2: keras.utils.np_utils is gone in Keras 3: use keras.utils.to_categorical "
                       "(grading supplies the labels, so model.py does not need it)")


def test_advanced_activations_names_what_was_imported(tmp_path):
    message = verdict(tmp_path, "from keras.layers.advanced_activations import LeakyReLU, PReLU\n")
    assert message == ("model.py, line 1: keras.layers.advanced_activations is gone in Keras 3: "
                       "write from keras.layers import LeakyReLU, PReLU")


def test_merge_import(tmp_path):
    assert verdict(tmp_path, "from keras.layers import Input, merge\n") == (
        "model.py, line 1: merge/Merge is Keras 1: write layers.Concatenate()([a, b]) (mode='concat') "
        "or layers.Add()([a, b]) (mode='sum')")


def test_merge_call_with_mode(tmp_path):
    source = in_build("joined = layers.merge([a, b], mode='sum')")
    assert verdict(tmp_path, source) == "model.py, line 6: merge(..., mode='sum') is Keras 1: write layers.Add()([a, b])"


def test_image_dim_ordering(tmp_path):
    source = "import keras\nkeras.backend.set_image_dim_ordering('th')\n"
    assert verdict(tmp_path, source) == ("model.py, line 2: image_dim_ordering is gone in Keras 3: remove the call; "
                                         "images are channels-last, (28, 28, 1), by default")


def test_every_table_entry_is_tested():
    tested = {"model_input_output", "keras1_convolution", "renamed_arguments", "unexpected_argument",
              "missing_positional_renamed", "merge", "removed_module", "image_dim_ordering"}
    assert {fix.name for fix in keras_fixes.TABLE} == tested


def test_unknown_errors_quote_the_students_line_without_host_paths(tmp_path):
    message = verdict(tmp_path, in_build("x = layers.Dense(10)(undefined_name)"))
    assert message == "model.py, line 6: `x = layers.Dense(10)(undefined_name)`: NameError: name 'undefined_name' is not defined"


def test_keras_own_model_py_is_not_the_students(tmp_path):
    # Keras raises inside its own models/model.py: the line must be the student's.
    message = verdict(tmp_path, in_build("keras.Model(inputs=1, outputs=2, bogus=3)"))
    assert message.startswith("model.py, line 6: `keras.Model(inputs=1, outputs=2, bogus=3)`: ")
    assert "site-packages" not in message and "/opt/gradebench" not in message
