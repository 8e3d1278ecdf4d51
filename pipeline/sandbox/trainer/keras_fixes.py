"""Keras 1/2 spellings that Keras 3 renamed or removed, each turned into a one-line fix.

Students learn from course notes and tutorials written for older Keras. Keras 3 rejects their
code with its own error (or, for `Convolution2D(32, 3, 3)`, silently reads the last 3 as
strides). Each entry below recognises one habit from the error and the student's line, and says
what to write instead:

    model.py, line 16: Model(input=…, output=…) is the Keras 1 spelling: write Model(inputs=inp, outputs=out)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable, Optional

from .errors import StudentSource, student_frames

SCHEDULE_NOTE = "model.py only builds the model: the track's schedule sets {what} for everyone, so remove it"

# Keyword arguments renamed since Keras 1/2: old -> (new, what the new value looks like or a note).
# `{value}` is the student's own value. One test per entry: tests/sandbox/test_keras_fixes.py.
RENAMED_ARGUMENTS: dict[str, str] = {
    "border_mode": "padding={value}",
    "subsample": "strides={value}",
    "init": "kernel_initializer={value}",
    "W_regularizer": "kernel_regularizer={value}",
    "b_regularizer": "bias_regularizer={value}",
    "W_constraint": "kernel_constraint={value}",
    "b_constraint": "bias_constraint={value}",
    "output_dim": "units={value}",
    "nb_filter": "filters={value}",
    "nb_row": "kernel_size=(rows, cols)",
    "nb_col": "kernel_size=(rows, cols)",
    "filter_length": "kernel_size={value}",
    "pool_length": "pool_size={value}",
    "stride": "strides={value}",
    "p": "rate={value}",
    "dim_ordering": "data_format='channels_last' (or 'channels_first')",
    "lr": "learning_rate={value}",
    "nb_epoch": "epochs={value}",
}
# Renamed arguments that belong to training, which model.py does not do.
SCHEDULE_ARGUMENTS = {"lr": "the optimizer and learning rate", "nb_epoch": "the number of epochs"}

# Modules removed in Keras 3 -> where their names live now.
REMOVED_MODULES: dict[str, str] = {
    "keras.utils.np_utils": "keras.utils.to_categorical",
    "keras.utils.vis_utils": "keras.utils.plot_model",
    "keras.layers.core": "keras.layers",
    "keras.layers.advanced_activations": "keras.layers",
    "keras.layers.convolutional": "keras.layers",
    "keras.layers.pooling": "keras.layers",
    "keras.layers.normalization": "keras.layers",
    "keras.layers.recurrent": "keras.layers",
    "keras.layers.embeddings": "keras.layers",
    "keras.layers.merge": "keras.layers",
    "keras.layers.noise": "keras.layers",
    "keras.layers.wrappers": "keras.layers",
}
# Keras 1's merge(mode=...) -> the Keras 3 layer.
MERGE_MODES = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average",
               "max": "Maximum", "dot": "Dot", "cos": "Dot"}


@dataclass(frozen=True)
class Fix:
    """One habit: `error` matches "Type: message", `code` the student's line; `advice` words the fix."""

    name: str
    error: re.Pattern
    code: Optional[re.Pattern]
    advice: Callable[[re.Match, Optional[re.Match], str], Optional[str]]


def _value(line: str, argument: str) -> Optional[str]:
    """The student's value for `argument=` in a line of code ("'same'", "(2, 2)", "l2(0.01)")."""
    match = re.search(rf"\b{re.escape(argument)}\s*=\s*", line)
    if not match:
        return None
    depth, start = 0, match.end()
    for index in range(start, len(line)):
        char = line[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return line[start:index].strip()
            depth -= 1
        elif char == "," and depth == 0:
            return line[start:index].strip()
    return line[start:].strip() or None


def _call(line: str, start: int) -> str:
    """The call text that opens at line[start] up to its closing parenthesis (or the line's end)."""
    depth = 0
    for index in range(line.index("(", start), len(line)):
        if line[index] == "(":
            depth += 1
        elif line[index] == ")":
            depth -= 1
            if depth == 0:
                return line[start:index + 1]
    return line[start:]


def _renamed_arguments(line: str, names: list[str]) -> Optional[str]:
    old = [name for name in names if name in RENAMED_ARGUMENTS]
    if not old:
        return None
    schedule = [SCHEDULE_ARGUMENTS[name] for name in old if name in SCHEDULE_ARGUMENTS]
    if schedule:
        return (f"{old[0]}= is the Keras 1/2 name of {RENAMED_ARGUMENTS[old[0]].split('=')[0]}=, but "
                + SCHEDULE_NOTE.format(what=schedule[0]))
    spelled = " and ".join(f"{name}=" for name in old)
    writes = ", ".join(RENAMED_ARGUMENTS[name].format(value=_value(line, name) or "...") for name in dict.fromkeys(
        "nb_row" if name == "nb_col" else name for name in old))
    noun = "is the Keras 1 name" if len(old) == 1 else "are Keras 1 names"
    return f"{spelled} {noun}: write {writes}"


def _model_input_output(error: re.Match, code: Optional[re.Match], line: str) -> str:
    inputs, outputs = _value(line, "input") or "inp", _value(line, "output") or "out"
    return f"Model(input=…, output=…) is the Keras 1 spelling: write Model(inputs={inputs}, outputs={outputs})"


def keras1_convolution(line: str) -> Optional[str]:
    """`Convolution2D(32, 3, 3, border_mode='same')` -> `Conv2D(32, (3, 3), padding='same')`."""
    match = re.search(r"\bConvolution([123])D\s*\(\s*(\w+)\s*,\s*(\d+)\s*,\s*(\d+)(?:\s*,\s*(\d+))?(?=\s*[,)])", line)
    if not match:
        return None
    dims = int(match.group(1))
    sizes = [size for size in match.group(3, 4, 5) if size is not None]
    if dims == 1 or len(sizes) != dims:
        return None  # Convolution1D(32, 3, ...) means the same in Keras 3
    old_call = _call(line, match.start())
    rest = old_call[len(match.group(0)):]
    rest = rest[:-1] if rest.endswith(")") else rest  # the call's own closing parenthesis
    for old, new in RENAMED_ARGUMENTS.items():
        rest = re.sub(rf"\b{old}\s*=", new.split("=")[0] + "=", rest)
    new_call = f"Conv{dims}D({match.group(2)}, ({', '.join(sizes)}){rest})"
    shown = old_call if len(old_call) <= 80 else old_call[:match.end() - match.start()] + ", …)"
    return f"{shown} is the Keras 1 spelling (Keras 3 reads the numbers after the first as kernel size and strides): write {new_call}"


def _merge(error: re.Match, code: Optional[re.Match], line: str) -> str:
    mode = re.search(r"mode\s*=\s*['\"](\w+)['\"]", line)
    if mode and mode.group(1) in MERGE_MODES:
        layer = MERGE_MODES[mode.group(1)]
        return f"merge(..., mode='{mode.group(1)}') is Keras 1: write layers.{layer}()([a, b])"
    return "merge/Merge is Keras 1: write layers.Concatenate()([a, b]) (mode='concat') or layers.Add()([a, b]) (mode='sum')"


def _removed_module(error: re.Match, code: Optional[re.Match], line: str) -> Optional[str]:
    module = error.group("module") or "keras.utils.np_utils"  # `from keras.utils import np_utils`
    for old, new in REMOVED_MODULES.items():
        if module == old or module.startswith(old + "."):
            break
    else:
        return None
    if new.endswith("to_categorical"):
        return (f"{old} is gone in Keras 3: use keras.utils.to_categorical "
                "(grading supplies the labels, so model.py does not need it)")
    if new == "keras.layers":
        names = re.search(rf"from\s+{re.escape(old)}\s+import\s+(.+)", line)
        imported = names.group(1).strip() if names else "Dense, ..."
        return f"{old} is gone in Keras 3: write from keras.layers import {imported}"
    return f"{old} is gone in Keras 3: use {new}"


TABLE: list[Fix] = [
    Fix("model_input_output",
        re.compile(r"Unrecognized keyword arguments passed to (Model|Functional): \{'(input|output)'"),
        re.compile(r"\bModel\s*\("), _model_input_output),
    Fix("keras1_convolution", re.compile(r".*"), re.compile(r"\bConvolution[23]D\s*\("),
        lambda error, code, line: keras1_convolution(line)),
    Fix("renamed_arguments",
        re.compile(r"(Unrecognized keyword arguments passed to \w+|Argument\(s\) not recognized): \{(?P<names>.*)"),
        None, lambda error, code, line: _renamed_arguments(line, re.findall(r"'(\w+)':", error.group("names")))),
    Fix("unexpected_argument", re.compile(r"got an unexpected keyword argument '(?P<name>\w+)'"), None,
        lambda error, code, line: _renamed_arguments(line, [error.group("name")])),
    Fix("missing_positional_renamed",  # Dense(output_dim=10) -> "missing ... 'units'"; Dropout(p=0.5) -> 'rate'
        re.compile(r"missing 1 required positional argument: '(units|rate|filters|kernel_size|pool_size)'"), None,
        lambda error, code, line: _renamed_arguments(line, [name for name in RENAMED_ARGUMENTS
                                                            if re.search(rf"\b{name}\s*=", line)])),
    Fix("merge", re.compile(r"(cannot import name|has no attribute) '(merge|Merge)'"), None, _merge),
    Fix("removed_module",
        re.compile(r"No module named '(?P<module>keras\.[\w.]+)'|cannot import name 'np_utils'"), None,
        _removed_module),
    Fix("image_dim_ordering", re.compile(r"has no attribute '(set_)?image_dim_ordering'"), None,
        lambda error, code, line: "image_dim_ordering is gone in Keras 3: remove the call; "
                                  "images are channels-last, (28, 28, 1), by default"),
]


def advice_for(error: BaseException, line: str) -> Optional[str]:
    """The fix for one error raised at one line of student code, or None if no entry knows it."""
    text = f"{type(error).__name__}: {error}"
    for fix in TABLE:
        error_match = fix.error.search(text)
        if not error_match:
            continue
        code_match = fix.code.search(line) if fix.code is not None else None
        if fix.code is not None and not code_match:
            continue
        advice = fix.advice(error_match, code_match, line)
        if advice:
            return advice
    return None


def fix_for(error: BaseException, source: StudentSource) -> Optional[str]:
    """`model.py, line 16: <fix>` if the error is a known Keras 1/2 habit at a line of student code."""
    frames = student_frames(error, source.folder)
    if not frames:
        return None
    frame = frames[-1]
    line = source.line(frame.lineno, frame.filename)
    advice = advice_for(error, line)
    return f"{source.where(frame.lineno, frame.filename)}: {advice}" if advice else None


def lint(source: StudentSource) -> Optional[str]:
    """Habits Keras 3 accepts but misreads, found before import: `Convolution2D(32, 3, 3)`."""
    try:
        tree = ast.parse(source.text)
    except SyntaxError:
        return None  # reported as such when the code is compiled
    lines = source.text.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node.func) in ("Convolution2D", "Convolution3D"):
            advice = keras1_convolution(lines[node.lineno - 1])
            if advice:
                return f"{source.where(node.lineno)}: {advice}"
    return None


def _called_name(function: ast.expr) -> Optional[str]:
    if isinstance(function, ast.Name):
        return function.id
    return function.attr if isinstance(function, ast.Attribute) else None
