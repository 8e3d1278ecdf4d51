"""The build step, the only step that runs student code: import model.py, build the model for the
track's images, check it, and save it as a Keras file (architecture and initial weights).

    python -m pipeline.sandbox.trainer build <submission_dir> <workdir>

It writes build/model.keras and build/result.json (status, error and the input layout). Nothing
it reports is trusted: the train step loads the saved model in a fresh process, in Keras' safe
mode, and counts, compiles and trains it there (train.py); the grader checks what comes back.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from pipeline.sandbox.trainer import runtime  # first: TensorFlow without its start-up noise
from pipeline import atomic, status
from pipeline.sandbox.exchange import BUILD_DIR, BUILT_MODEL_FILE, LOG_PREFIX, RESULT_FILE
from pipeline.sandbox.trainer import contract, errors
from pipeline.status import SubmissionFailure


def out_of_memory(limits: dict, stage: str) -> dict:
    """A MemoryError in student code is out_of_memory, with the track's limit."""
    return {"status": status.OUT_OF_MEMORY,
            "error": f"ran out of memory while {stage}: this track allows {limits['memory_mb']} MB "
                     f"(limits.memory_mb); make the model or the arrays it creates smaller"}


def out_of_disk(limits: dict) -> dict:
    return {"status": status.OUT_OF_DISK,
            "error": f"wrote more than this track's limit of {limits['disk_mb']} MB of files (limits.disk_mb): "
                     "do not write files in model.py"}


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
        return out_of_memory(limits, "building the model")
    result = {"status": status.OK, "error": None, "input_layout": list(layout), **counts}
    try:
        model.save(build_dir / BUILT_MODEL_FILE)
        result["saved"] = True
    except OSError as error:
        if error.errno == 28:  # ENOSPC: the scratch space is full
            return out_of_disk(limits)
        result.update(saved=False, save_error=f"{type(error).__name__}: {error}")
    except Exception as error:  # noqa: BLE001 - a custom layer without a working get_config
        result.update(saved=False, save_error=f"{type(error).__name__}: {error}")
    if not result["saved"]:
        print(f"{LOG_PREFIX}the model cannot be saved by Keras ({result['save_error'][:200]}); the train step "
              "builds it again from model.py", flush=True)
    return result


def main(argv: list[str]) -> int:
    submission_dir, workdir = Path(argv[0]), Path(argv[1])
    try:
        result = build_submission(submission_dir, workdir)
    except MemoryError:
        result = out_of_memory(runtime.read_job(workdir)["limits"], "building the model")
    except OSError as error:
        if error.errno != 28:
            raise
        result = out_of_disk(runtime.read_job(workdir)["limits"])
    except Exception as error:  # noqa: BLE001 - e.g. the model fails on its first batch
        traceback.print_exc()
        result = {"status": status.CRASHED, "error": f"the submission failed: {contract.describe_error(error)}"}
    if result.get("error"):
        result["error"] = status.one_line(errors.scrub(result["error"]))
        print(f"{LOG_PREFIX}{result['status']}: {result['error']}", flush=True)
    atomic.write_json(workdir / BUILD_DIR / RESULT_FILE, result)
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit at once: an atexit hook or a finaliser from model.py never runs after the result is written.
    os._exit(0)
