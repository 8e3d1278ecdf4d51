"""The build step, the only step that runs student code: import model.py, build the model for the
track's images, check its shapes, and hand it over to the train step as data.

    python -m pipeline.sandbox.trainer build <submission_dir> <workdir>

It is told the input shape and the number of classes, nothing else: no arrays, no schedule, no
paths. It writes build/result.json (status, error, input layout, kind) and either build/model.json
(a model of Keras' own layers, as its config) or the traced graphs of a custom model (tracing.py).
No weights cross over. Nothing it reports is trusted: the train step rebuilds, checks,
initialises, counts and trains the model in a fresh process without model.py.
"""

from __future__ import annotations

import errno
from pathlib import Path

from pipeline.sandbox.trainer import runtime  # first: TensorFlow without its start-up noise
from pipeline import status  # noqa: E402
from pipeline.sandbox.exchange import BUILD_CONTROL_DIR, BUILD_DIR, RESULT_FILE  # noqa: E402
from pipeline.sandbox.trainer import contract, tracing  # noqa: E402
from pipeline.status import SubmissionFailure  # noqa: E402

# Seeds only the build's own randomness (nothing of it reaches training: weights are made anew).
BUILD_SEED = 0


def build_submission(submission_dir: Path, workdir: Path) -> dict:
    job = runtime.read_job(workdir / BUILD_CONTROL_DIR)
    runtime.configure_runtime(BUILD_SEED, 1)
    build_dir = workdir / BUILD_DIR
    input_shape, num_classes = tuple(job["input_shape"]), job["num_classes"]
    tracing.record_initializers()
    try:
        module = contract.load_module(submission_dir, build_dir)
        model = contract.build(module, input_shape, num_classes)
        contract.check_model_classes(model)
        contract.check_shapes(model, input_shape, num_classes)
        layout = contract.input_shape_for(model, input_shape)
        kind = tracing.hand_over(model, layout, build_dir, contract.describe_error)
    except SubmissionFailure as failure:
        return {"status": failure.status, "error": failure.message}
    except MemoryError:
        return runtime.out_of_memory(None, "building the model")
    except OSError as error:
        if error.errno == errno.ENOSPC:  # the scratch space is full
            return runtime.out_of_disk(None)
        raise
    return {"status": status.OK, "error": None, "input_layout": list(layout), "kind": kind}


def main(argv: list[str]) -> int:
    submission_dir, workdir = Path(argv[0]), Path(argv[1])
    runtime.run_and_exit(lambda: build_submission(submission_dir, workdir), workdir / BUILD_CONTROL_DIR,
                         workdir / BUILD_DIR / RESULT_FILE, "building the model")
