"""A notebook submission: the code cells of model.ipynb, as the Python that is graded.

IPython magics (`%matplotlib inline`, `%%time`) and shell lines (`!pip install ...`) are not
Python; they are kept as comments, so the extracted code has one line per notebook line and a
student can match a message's line to the cell. Cell magics that run another language
(`%%bash`, `%%writefile`, ...) comment out their whole cell.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .errors import StudentSource

NOTEBOOK_FILE = "model.ipynb"
EXTRACTED_NAME = "model_from_notebook.py"  # compiled under this name inside the submission folder
# Cell magics whose body is still Python: only the magic line is dropped.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
DROPPED = "# [not Python, skipped by grading] "
# `%magic`, `!shell`, `x = !shell`, `x = %magic`, `object?` help lines.
_NOT_PYTHON = re.compile(r"^\s*(?:[%!]|[\w.]+\s*=\s*[%!]|[\w.]+\?{1,2}\s*$)")


def extract(path: Path) -> StudentSource:
    """The notebook's code cells as one Python source, with a map back to (cell, line)."""
    notebook = nbformat.read(path, as_version=4)
    lines: list[str] = [f"# Extracted by gradebench from {path.name}: its code cells, in order."]
    cells: dict[int, tuple[int, int]] = {}
    code_cell = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code_cell += 1
        lines.append(f"# --- code cell {code_cell} ---")
        cell_lines = cell.source.splitlines()
        whole_cell_dropped = False
        if cell_lines and cell_lines[0].lstrip().startswith("%%"):
            magic = cell_lines[0].lstrip()[2:].split(maxsplit=1)[0] if cell_lines[0].strip() != "%%" else ""
            whole_cell_dropped = magic not in PYTHON_CELL_MAGICS
        for number, line in enumerate(cell_lines, start=1):
            if whole_cell_dropped or _NOT_PYTHON.match(line):
                indent = line[:len(line) - len(line.lstrip())]
                line = f"{indent}{DROPPED}{line.lstrip()}"
                if indent:
                    line = f"{indent}pass  {line.lstrip()}"  # keeps an indented block non-empty
            lines.append(line)
            cells[len(lines)] = (code_cell, number)
    return StudentSource(path=path.parent / EXTRACTED_NAME, text="\n".join(lines) + "\n",
                         display_name=path.name, cells=cells)
