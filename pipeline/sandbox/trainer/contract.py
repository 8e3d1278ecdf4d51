"""The student contract: load `model.py`, build the model, and check it fits the track.

`model.py` defines `build_model(input_shape, num_classes)` or, in the Cambridge L42 starter-pack
style, `get_model()` with no arguments, and returns an *uncompiled* `keras.Model`. Everything
about training comes from the track's schedule, so the contract is only about the model itself.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

import keras
import numpy as np

from pipeline import status
from pipeline.status import SubmissionFailure

MODEL_FILE = "model.py"
BUILD_FUNCTIONS = ("build_model", "get_model")


def describe_error(error: BaseException) -> str:
    """`model.py, line 12: NameError: ...`, the line a student needs to find the bug."""
    return _last_frame_line(error)


def _last_frame_line(error: BaseException) -> str:
    """`model.py, line 12: NameError: ...`, the line a student needs to find the bug."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(MODEL_FILE)]
    where = f"{MODEL_FILE}, line {frames[-1].lineno}: " if frames else ""
    return f"{where}{type(error).__name__}: {error}"


def load_module(submission_dir: Path):
    """Import model.py as a fresh module; import-time errors are the student's `invalid`."""
    path = submission_dir / MODEL_FILE
    if not path.is_file():
        raise SubmissionFailure(status.INVALID, f"no {MODEL_FILE} in {submission_dir.name}/")
    spec = importlib.util.spec_from_file_location("student_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["student_model"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise SubmissionFailure(
            status.INVALID, f"{MODEL_FILE}, line {error.lineno}: SyntaxError: {error.msg}"
        ) from None
    except ImportError as error:
        raise SubmissionFailure(
            status.INVALID,
            f"{_last_frame_line(error)} (only keras, numpy and the standard library are installed for grading)",
        ) from None
    except MemoryError:
        raise  # the trainer reports it as out_of_memory with the track's limit
    except Exception as error:  # noqa: BLE001 - any import-time failure is the student's
        raise SubmissionFailure(status.INVALID, f"error while importing: {_last_frame_line(error)}") from None
    return module


def build(module, input_shape: tuple[int, ...], num_classes: int):
    """Call the student's build function and return the model it made."""
    if hasattr(module, "build_model"):
        call = lambda: module.build_model(input_shape, num_classes)  # noqa: E731
    elif hasattr(module, "get_model"):
        call = module.get_model
    else:
        raise SubmissionFailure(
            status.INVALID,
            f"{MODEL_FILE} defines neither build_model(input_shape, num_classes) nor get_model()",
        )
    try:
        model = call()
    except MemoryError:
        raise  # the trainer reports it as out_of_memory with the track's limit
    except Exception as error:  # noqa: BLE001
        raise SubmissionFailure(status.INVALID, f"building the model failed: {_last_frame_line(error)}") from None
    if not isinstance(model, keras.Model):
        raise SubmissionFailure(
            status.INVALID, f"the build function returned {type(model).__name__}, expected a keras.Model"
        )
    return model


def validate(model, input_shape: tuple[int, ...], num_classes: int, max_trainable_params: int) -> dict:
    """Check shapes and size against the track; return the parameter counts."""
    expected_in = (None, *input_shape)
    actual_in = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if actual_in != expected_in:
        raise SubmissionFailure(
            status.INVALID,
            f"model input shape is {model.input_shape}, expected {expected_in}: "
            f"use keras.Input(shape={tuple(input_shape)}) (add a Reshape layer if you need channels)",
        )
    actual_out = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    if actual_out != (None, num_classes):
        raise SubmissionFailure(
            status.INVALID,
            f"model output shape is {model.output_shape}, expected (None, {num_classes}): "
            f"end with a Dense({num_classes}) layer",
        )
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(model.count_params())
    if trainable > max_trainable_params:
        raise SubmissionFailure(
            status.INVALID,
            f"model has {trainable:,} trainable parameters, over this track's budget of "
            f"{max_trainable_params:,}: make it smaller",
        )
    return {"trainable_params": trainable, "total_params": total}


def detect_output_kind(model, sample_inputs: np.ndarray) -> str:
    """'probabilities' if the model already ends in softmax, else 'logits'.

    Checked numerically on a real batch rather than by layer type, so Activation('softmax'),
    layers.Softmax and Dense(..., activation='softmax') are all recognised alike.
    """
    outputs = np.asarray(model(sample_inputs, training=False))
    rows_sum_to_one = np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)
    return "probabilities" if rows_sum_to_one and outputs.min() >= 0 else "logits"
