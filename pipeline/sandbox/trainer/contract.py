"""The student contract: load `model.py`, build the model, and check it fits the track.

`model.py` (or the code cells of a notebook, `model.ipynb`) defines
`build_model(input_shape, num_classes)` or, in the Cambridge L42 starter-pack style,
`get_model()` with no arguments, and returns an *uncompiled* `keras.Model`. Everything about
training comes from the track's schedule, so the contract is only about the model itself.

Every honest style is accepted: Functional, Sequential with or without `Input`, subclassed
models and custom layers. The track's 28x28 images are the same pixels whether a model takes
them as (28, 28), (28, 28, 1) or (784,), so any of the three is accepted and the trainer
reshapes the arrays to it (`adapt_inputs`). Models built lazily are built here with that shape.
"""

from __future__ import annotations

import errno
import importlib.util
import math
import sys
import types
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from pipeline import status
from pipeline.status import SubmissionFailure
from pipeline.sandbox.trainer import errors, import_guards, keras_fixes, notebook
from pipeline.sandbox.trainer.errors import StudentSource
from pipeline.sandbox.exchange import NOTEBOOK_SOURCE_FILE

MODEL_FILE = "model.py"
NOTEBOOK_FILE = notebook.NOTEBOOK_FILE
BUILD_FUNCTIONS = ("build_model", "get_model")
INSTALLED_NOTE = " (only keras, numpy and the standard library are installed for grading)"

# The submission being graded in this process, so describe_error can attribute any later error.
_current: dict[str, Optional[StudentSource]] = {"source": None}
# Input shapes found by building a model that declares none (subclassed models), by id(model).
_probed_shapes: dict[int, tuple[int, ...]] = {}


def describe_error(error: BaseException) -> str:
    """`model.py, line 12: `code`: NameError: ...`, the line a student needs to find the bug."""
    source = _current["source"]
    fixed = keras_fixes.fix_for(error, source) if source is not None else None
    return fixed or errors.describe(error, source)


def read_source(submission_dir: Path) -> StudentSource:
    """model.py as Python reads it (a UTF-8 BOM and CRLF line ends are fine), or the notebook's code."""
    path = submission_dir / MODEL_FILE
    if path.is_file():
        return StudentSource(path=path, text=importlib.util.decode_source(path.read_bytes()))
    notebook_path = submission_dir / NOTEBOOK_FILE
    if notebook_path.is_file():
        try:
            return notebook.extract(notebook_path)
        except Exception as error:  # noqa: BLE001 - nbformat raises several kinds for a broken file
            raise SubmissionFailure(
                status.INVALID, f"{NOTEBOOK_FILE} is not a readable Jupyter notebook ({type(error).__name__}): "
                                f"save it again from Jupyter, or submit model.py") from None
    raise SubmissionFailure(status.INVALID, f"no {MODEL_FILE} (or {NOTEBOOK_FILE}) in {submission_dir.name}/")


def _explain(error: BaseException, guards, source: StudentSource, stage: str) -> str:
    """The one line for a failure in student code: a guard's, a Keras 1/2 fix, or the student's line."""
    message = import_guards.explain(error, guards, source, stage) or keras_fixes.fix_for(error, source)
    if message:
        return message
    message = errors.describe(error, source)
    if not errors.student_frames(error, source.folder):
        message = f"failed {stage}: {message}"
    if isinstance(error, ImportError):
        message += INSTALLED_NOTE
    return message


def load_module(submission_dir: Path, artifacts_dir: Optional[Path] = None):
    """Import model.py (or the notebook's code) as a fresh module; import-time errors are `invalid`.

    A notebook's extracted code is saved as `artifacts_dir/model_from_notebook.py`, so the
    student sees exactly what was graded.
    """
    source = read_source(submission_dir)
    _current["source"] = source
    if source.cells and artifacts_dir is not None:
        (artifacts_dir / NOTEBOOK_SOURCE_FILE).write_text(source.text)
    source.register()
    lint = keras_fixes.lint(source)
    if lint:
        raise SubmissionFailure(status.INVALID, lint)
    try:
        code = compile(source.text, str(source.path), "exec", dont_inherit=True)
    except SyntaxError as error:
        code_line = source.line(error.lineno)
        quoted = f" `{code_line}`:" if code_line else ""
        raise SubmissionFailure(status.INVALID,
                                f"{source.where(error.lineno)}:{quoted} SyntaxError: {error.msg}") from None
    module = types.ModuleType("student_model")
    module.__file__ = str(source.path)
    sys.modules["student_model"] = module
    with import_guards.guarded(source.folder) as guards:
        try:
            exec(code, module.__dict__)  # noqa: S102 - this is the sandboxed trainer's job
        except MemoryError:
            raise  # the trainer reports it as out_of_memory with the track's limit
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise  # the trainer reports it as out_of_disk with the track's limit
            raise SubmissionFailure(status.INVALID, _explain(error, guards, source, "at import")) from None
        except BaseException as error:  # noqa: BLE001 - exit() and any import-time failure are the student's
            raise SubmissionFailure(status.INVALID, _explain(error, guards, source, "at import")) from None
    return module


def accepted_input_shapes(image_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The same pixels in each accepted layout: (28, 28), (28, 28, 1), (784,) for 28x28 images."""
    shapes = [tuple(image_shape)]
    if len(image_shape) == 2:
        shapes.append((*image_shape, 1))
    shapes.append((math.prod(image_shape),))
    return list(dict.fromkeys(shapes))


def _shapes_text(image_shape) -> str:
    shapes = [str(shape) for shape in accepted_input_shapes(image_shape)]
    return ", ".join(shapes[:-1]) + " or " + shapes[-1]


def _declared_input_shape(model) -> Optional[tuple]:
    """The input shape a model declares (without the batch axis), or None if it declares none."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise SubmissionFailure(status.INVALID, f"the model has {len(inputs)} inputs: grading feeds one image input")
    return tuple(inputs[0].shape[1:])


def _matching_shape(declared: tuple, image_shape) -> Optional[tuple[int, ...]]:
    for shape in accepted_input_shapes(image_shape):
        if len(shape) == len(declared) and all(d is None or d == s for d, s in zip(declared, shape)):
            return shape
    return None


def _try_build(model, shape: tuple[int, ...]):
    """Build a model that declares no input with `shape`; return its output on a sample batch."""
    if isinstance(model, keras.Sequential):
        model.build((None, *shape))  # a symbolic Input, so any batch size works afterwards
    return model(np.zeros((2, *shape), dtype=np.float32), training=False)


def build(module, input_shape: tuple[int, ...], num_classes: int):
    """Call the student's build function and return the model it made, built for the track's images."""
    source = _current["source"]
    if hasattr(module, "build_model"):
        name, call = "build_model", lambda: module.build_model(input_shape, num_classes)
    elif hasattr(module, "get_model"):
        name, call = "get_model", module.get_model
    else:
        raise SubmissionFailure(
            status.INVALID,
            f"{source.display_name if source else MODEL_FILE} defines neither "
            "build_model(input_shape, num_classes) nor get_model()",
        )

    def make():
        with import_guards.guarded(source.folder) as guards:
            try:
                model = call()
            except MemoryError:
                raise  # the trainer reports it as out_of_memory with the track's limit
            except BaseException as error:  # noqa: BLE001
                raise SubmissionFailure(status.INVALID, _explain(error, guards, source, f"in {name}")) from None
        if not isinstance(model, keras.Model):
            raise SubmissionFailure(
                status.INVALID, f"{name}() returned {type(model).__name__}, expected a keras.Model"
            )
        return model

    model = make()
    if _declared_input_shape(model) is not None:
        return model
    # No declared input (Sequential without Input, subclassed models): build with each accepted
    # layout in turn. A failed attempt may leave layers half-built, so each retry starts afresh.
    first_failure: Optional[str] = None
    for attempt, shape in enumerate(accepted_input_shapes(input_shape)):
        if attempt:
            model = make()
        try:
            outputs = _try_build(model, shape)
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - a student layer can fail in any way
            first_failure = first_failure or _explain(error, None, source, "building the model")
            continue
        output_shape = tuple(np.shape(outputs)) if not isinstance(outputs, (list, tuple, dict)) else None
        if output_shape == (2, num_classes):
            _probed_shapes[id(model)] = shape
            return model
        first_failure = first_failure or (f"model output shape is {_batchless(output_shape)}, expected "
                                          f"(None, {num_classes}): end with a Dense({num_classes}) layer")
    raise SubmissionFailure(
        status.INVALID,
        f"the model could not be built for {'x'.join(map(str, input_shape))} images given as "
        f"{_shapes_text(input_shape)}: {first_failure}",
    )


def _batchless(shape) -> str:
    return str((None, *shape[1:])) if shape else "not one array"


def input_shape_for(model, image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The accepted layout (e.g. (28, 28, 1)) this model takes the track's images in."""
    declared = _declared_input_shape(model)
    if declared is None:
        if id(model) in _probed_shapes:
            return _probed_shapes[id(model)]
        for shape in accepted_input_shapes(image_shape):  # a built model loaded from a file
            try:
                if np.ndim(model(np.zeros((2, *shape), dtype=np.float32), training=False)) == 2:
                    return shape
            except Exception:  # noqa: BLE001 - the wrong layout fails in the model's layers
                continue
        raise SubmissionFailure(status.INVALID, f"the model takes none of the input shapes {_shapes_text(image_shape)}")
    shape = _matching_shape(declared, image_shape)
    if shape is None:
        raise SubmissionFailure(
            status.INVALID,
            f"model input shape is {(None, *declared)}; grading feeds {'x'.join(map(str, image_shape))} images "
            f"as {_shapes_text(image_shape)}: use keras.Input(shape=input_shape)",
        )
    return shape


def adapt_inputs(model, image_shape: tuple[int, ...], arrays: list) -> list:
    """The same arrays, reshaped (no copy) to the layout the model takes."""
    shape = input_shape_for(model, image_shape)
    return [array.reshape((len(array), *shape)) for array in arrays]


def check_shapes(model, input_shape: tuple[int, ...], num_classes: int) -> None:
    """The model takes the track's images and gives one score per class."""
    shape = input_shape_for(model, input_shape)
    outputs = model(np.zeros((2, *shape), dtype=np.float32), training=False)
    if isinstance(outputs, (list, tuple, dict)):
        raise SubmissionFailure(status.INVALID, f"the model has {len(outputs)} outputs: end with one "
                                                f"Dense({num_classes}) layer")
    if tuple(np.shape(outputs)) != (2, num_classes):
        raise SubmissionFailure(
            status.INVALID,
            f"model output shape is {_batchless(tuple(np.shape(outputs)))}, expected (None, {num_classes}): "
            f"end with a Dense({num_classes}) layer",
        )


FIXED = "the training schedule is fixed for everyone"
# Methods of a model class that would change how it is trained or evaluated.
SCHEDULE_METHODS = ("train_step", "test_step", "predict_step", "compile", "fit", "evaluate", "predict",
                    "make_train_function", "make_test_function", "make_predict_function", "compute_loss",
                    "optimizer")


def check_model_classes(model) -> None:
    """A model class may not override the methods the schedule owns. Only the forward pass is
    handed to training, so such an override would silently do nothing: say so instead."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith(("keras", "tensorflow", "builtins")):
            continue
        for name in SCHEDULE_METHODS:
            if name in vars(cls):
                raise SubmissionFailure(status.INVALID, f"model.py's {cls.__name__} overrides {name}: {FIXED}")


def detect_output_kind(model, sample_inputs: np.ndarray) -> str:
    """'probabilities' if the model already ends in softmax, else 'logits'.

    Checked numerically on a real batch rather than by layer type, so Activation('softmax'),
    layers.Softmax and Dense(..., activation='softmax') are all recognised alike.
    """
    outputs = np.asarray(model(sample_inputs, training=False))
    rows_sum_to_one = np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)
    return "probabilities" if rows_sum_to_one and outputs.min() >= 0 else "logits"
