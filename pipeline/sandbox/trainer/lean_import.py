"""TensorFlow and Keras imported without the optional packages they pull in but training never uses.

Keras imports scikit-learn (its sklearn wrappers), matplotlib (an image-gallery helper) and,
through them, SciPy and pandas, whenever they are installed: about 1.2 s of each sandboxed
step's 3 s start (`python -X importtime`). While the framework is imported they are reported
missing, so Keras leaves those helpers out; afterwards the guard is gone and model.py can import
any of them as usual. Training and its figures do not change (bench: bit-identical predictions).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

# Top-level packages Keras and TensorFlow import only if installed, for features grading never uses.
NOT_NEEDED = frozenset({"sklearn", "matplotlib", "scipy", "pandas", "pyarrow"})


class _ReportMissing:
    """A meta-path finder that makes the packages in NOT_NEEDED look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in NOT_NEEDED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None  # everything else: the normal finders


@contextlib.contextmanager
def without_unneeded_packages() -> Iterator[None]:
    finder = _ReportMissing()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
