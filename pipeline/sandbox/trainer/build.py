"""The build step, the only step that runs student code: import model.py, build the model for the
track's images, check it, and save it as a Keras file (architecture and initial weights).

    python -m pipeline.sandbox.trainer build <submission_dir> <workdir>

It writes build/model.keras and build/result.json (status, error and the input layout). Nothing
it reports is trusted: the train step loads the saved model in a fresh process, in Keras' safe
mode, and counts, compiles and trains it there (train.py); the grader checks what comes back.
"""

from __future__ import annotations

import errno
from pathlib import Path

from pipeline.sandbox.trainer import runtime  # first: TensorFlow without its start-up noise
from pipeline import status  # noqa: E402
from pipeline.sandbox.exchange import BUILD_DIR, BUILT_MODEL_FILE, LOG_PREFIX, RESULT_FILE  # noqa: E402
from pipeline.sandbox.trainer import contract  # noqa: E402
from pipeline.status import SubmissionFailure  # noqa: E402


def build_submission(submission_dir: Path, workdir: Path) -> dict:
    job = runtime.read_job(workdir)
    schedule, limits = job["schedule"], job["limits"]
    runtime.configure_runtime(schedule["seed"], job["threads"])
    build_dir = workdir / BUILD_DIR
    input_shape, num_classes = tuple(job["input_shape"]), job["num_classes"]
    try:
        module = contract.load_module(submission_dir, build_dir)
        model = contract.build(module, input_shape, num_classes)
        counts = contract.validate(model, input_shape, num_classes, limits["max_trainable_params"])
        layout = contract.input_shape_for(model, input_shape)
    except SubmissionFailure as failure:
        return {"status": failure.status, "error": failure.message}
    except MemoryError:
        return runtime.out_of_memory(limits, "building the model")
    result = {"status": status.OK, "error": None, "input_layout": list(layout), **counts}
    try:
        model.save(build_dir / BUILT_MODEL_FILE)
        result["saved"] = True
    except OSError as error:
        if error.errno == errno.ENOSPC:  # the scratch space is full
            return runtime.out_of_disk(limits)
        result.update(saved=False, save_error=f"{type(error).__name__}: {error}")
    except Exception as error:  # noqa: BLE001 - a custom layer without a working get_config
        result.update(saved=False, save_error=f"{type(error).__name__}: {error}")
    if not result["saved"]:
        print(f"{LOG_PREFIX}the model cannot be saved by Keras ({result['save_error'][:200]}); the train step "
              "builds it again from model.py", flush=True)
    return result


def main(argv: list[str]) -> int:
    submission_dir, workdir = Path(argv[0]), Path(argv[1])
    runtime.run_and_exit(lambda: build_submission(submission_dir, workdir), workdir,
                         workdir / BUILD_DIR / RESULT_FILE, "building the model")
