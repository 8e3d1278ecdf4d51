"""Readable student logs: TensorFlow is imported without its C++ and absl start-up lines.

TensorFlow prints "oneDNN custom operations are on" and similar lines from C++ before absl's
logging is set up, so no environment variable silences them; students read them as errors, and
the last of them used to end up as the failure message. Importing this module imports
TensorFlow with the process's stderr captured, passes on every line that is not such noise,
and turns TensorFlow's and absl's later logging down to errors. The sandbox also sets
TF_CPP_MIN_LOG_LEVEL=3 (pipeline.sandbox.command), which silences the C++ lines after start-up.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from pipeline.sandbox.trainer.lean_import import without_unneeded_packages

# absl's format: "I0000 00:00:1795446803.532971    5676 port.cc:153] ...", and its preamble.
_NOISE = re.compile(r"^([IWE]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\]|WARNING: All log messages before absl::InitializeLog"
                    r"|To enable the following instructions: )")


def is_noise(line: str) -> bool:
    return bool(_NOISE.match(line))


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with fd 2 captured; re-emit what is not start-up noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                with without_unneeded_packages():
                    import tensorflow  # noqa: F401
                    import keras  # noqa: F401
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured.read().decode("utf-8", "replace").splitlines() if not is_noise(line)]
                if kept:
                    print("\n".join(kept), file=sys.stderr, flush=True)
    import tensorflow as tf
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    tf.get_logger().setLevel("ERROR")


import_tensorflow_quietly()
