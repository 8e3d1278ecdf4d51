"""Error attribution: the student's own file, line and code, and never a host path.

Only frames from files inside the submission's folder count (Keras has its own models/model.py,
so a file's name proves nothing). A message quotes the student's line:

    model.py, line 16: `return Model(input=inp, output=out)`: ValueError: ...
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class StudentSource:
    """The code that was graded: model.py as written, or the code cells of model.ipynb.

    `path` is the name the code is compiled under (inside the submission folder, so its frames
    are the student's); `cells` maps a line of a notebook's extracted code to (cell, line).
    """

    path: Path
    text: str
    display_name: str = "model.py"
    cells: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def where(self, lineno: Optional[int], filename: Optional[str] = None) -> str:
        """`model.py, line 16` (or `model.ipynb, code cell 3, line 2`, or `utils.py, line 4`)."""
        if filename is not None and Path(filename) != self.path:
            name = os.path.relpath(filename, self.folder)
            return f"{name}, line {lineno}" if lineno else name
        if lineno is None:
            return self.display_name
        if lineno in self.cells:
            cell, line = self.cells[lineno]
            return f"{self.display_name}, code cell {cell}, line {line}"
        return f"{self.display_name}, line {lineno}"

    def line(self, lineno: Optional[int], filename: Optional[str] = None) -> str:
        """The stripped text of one line ("" if unknown)."""
        if not lineno:
            return ""
        if filename is not None and Path(filename) != self.path:
            return linecache.getline(filename, lineno).strip()
        lines = self.text.splitlines()
        return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""

    def register(self) -> None:
        """Let tracebacks in the log show this code even when no file holds it (a notebook)."""
        lines = [line + "\n" for line in self.text.splitlines()]
        linecache.cache[str(self.path)] = (len(self.text), None, lines, str(self.path))


@dataclass(frozen=True)
class StudentFrame:
    filename: str
    lineno: Optional[int]


def is_student_file(filename: str, folder: Path) -> bool:
    """True for a file inside the submission folder (by path, never by name)."""
    if not filename or filename.startswith("<"):
        return False
    try:
        return Path(os.path.abspath(filename)).is_relative_to(os.path.abspath(folder))
    except (OSError, ValueError):
        return False


def student_frames(error: BaseException, folder: Path) -> list[StudentFrame]:
    """The traceback's frames in the student's files, outermost first; SyntaxErrors included."""
    frames = [StudentFrame(frame.filename, frame.lineno) for frame in traceback.extract_tb(error.__traceback__)
              if is_student_file(frame.filename, folder)]
    if isinstance(error, SyntaxError) and error.filename and is_student_file(error.filename, folder):
        frames.append(StudentFrame(error.filename, error.lineno))
    return frames


def stack_frame(folder: Path) -> Optional[StudentFrame]:
    """The innermost frame of the current call stack in the student's files (for guards)."""
    for frame in reversed(traceback.extract_stack()):
        if is_student_file(frame.filename, folder):
            return StudentFrame(frame.filename, frame.lineno)
    return None


def error_text(error: BaseException) -> str:
    """`ValueError: ...` with host paths removed."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg}"
    return scrub(f"{type(error).__name__}: {error}")


def describe(error: BaseException, source: Optional[StudentSource]) -> str:
    """`model.py, line 16: `code`: ValueError: ...`: where in the student's code, and what."""
    if source is None:
        return error_text(error)
    frames = student_frames(error, source.folder)
    if not frames:
        return error_text(error)
    frame = frames[-1]
    code = source.line(frame.lineno, frame.filename)
    quoted = f" `{code}`:" if code else ""
    return f"{source.where(frame.lineno, frame.filename)}:{quoted} {error_text(error)}"


# Host paths (the virtualenv, the interpreter, this package as mounted in the sandbox, the
# submission's mount point) mean nothing to a student and say things about the grading machine.
_SANDBOX_PACKAGE_ROOT = "/opt/gradebench"


def _host_prefixes() -> list[str]:
    # The folder holding the `pipeline` package, wherever this module sits inside it.
    package_root = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]
    prefixes = {_SANDBOX_PACKAGE_ROOT, str(package_root)}
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path):
        if path and os.path.isabs(path) and path != "/":
            prefixes.add(path.rstrip("/"))
            prefixes.add(os.path.realpath(path).rstrip("/"))
    return sorted((prefix for prefix in prefixes if len(prefix) > 1), key=len, reverse=True)


def scrub(text: str, submission_folder: Optional[Path] = None) -> str:
    """Remove host paths: `/work/.venv/lib/python3.11/site-packages/keras/x.py` -> `keras/x.py`."""
    prefixes = _host_prefixes()
    if submission_folder is not None:
        prefixes.insert(0, str(submission_folder).rstrip("/"))
    for prefix in prefixes:
        text = re.sub(re.escape(prefix) + r"(/|(?=[\s'\")\]:,]|$))", "", text)
    return text
