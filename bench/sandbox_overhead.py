"""How long the sandbox adds before a student's first line runs: bubblewrap vs a plain process.

    python bench/sandbox_overhead.py [runs]

Each run starts the real trainer (`pipeline.runner.run_training`) on a submission whose first
line prints time.time(); the delay from the grader's start call to that line includes Python and
TensorFlow start-up, which both modes pay. The difference is the sandbox's cost. Runs alternate
between the modes so that a warm or cold file cache favours neither.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.config import Limits
from pipeline.sandbox import exchange as files
from pipeline.sandbox import runner
from pipeline.sandbox.isolation import Isolation, choose_isolation

FIRST_LINE = "import time; print('STUDENT_START', time.time(), flush=True)\n"
MODEL = FIRST_LINE + """
import keras


def build_model(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(num_classes, activation="softmax")])
"""


def make_workdir(root: Path) -> Path:
    """A one-epoch job on a few random images: the delay measured ends long before training."""
    rng = np.random.default_rng(0)
    workdir = Path(tempfile.mkdtemp(dir=root))
    images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n, dtype=np.uint8)  # noqa: E731
    np.savez(workdir / files.PUBLIC_FILE, x_train=images(64), y_train=labels(64), x_val=images(16), y_val=labels(16))
    np.save(workdir / files.HIDDEN_X_FILE, images(16))
    job = {"schedule": {"optimizer": "sgd", "learning_rate": 0.01, "epochs": 1, "batch_size": 32, "seed": 0,
                        "scaling": "unit"},
           "limits": Limits().model_dump(), "input_shape": [28, 28], "num_classes": 10, "threads": 1}
    (workdir / files.JOB_FILE).write_text(json.dumps(job))
    return workdir


def time_to_first_line(submission: Path, root: Path, isolation: Isolation) -> float:
    workdir = make_workdir(root)
    started = time.time()
    outcome = runner.run_training(submission, workdir, Limits(wall_seconds=120, memory_mb=2048),
                                   threads=1, seed=0, isolation=isolation)
    for line in outcome.log_tail.splitlines():
        if line.startswith("STUDENT_START "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"the submission never ran:\n{outcome.log_tail[-2000:]}")


def main(runs: int) -> None:
    sandboxed = choose_isolation()
    modes = {"bubblewrap": sandboxed, "plain process": Isolation(bwrap=None)}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        submission = root / "first_line"
        submission.mkdir()
        (submission / "model.py").write_text(MODEL)
        time_to_first_line(submission, root, sandboxed)  # warm the file cache once
        delays: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(runs):
            for name, isolation in modes.items():
                delays[name].append(time_to_first_line(submission, root, isolation))
    for name, values in delays.items():
        print(f"{name:14s} start -> first student line: mean {statistics.mean(values):.3f} s, "
              f"sd {statistics.stdev(values):.3f} s over {runs} runs")
    overhead = statistics.mean(delays["bubblewrap"]) - statistics.mean(delays["plain process"])
    print(f"sandbox overhead: {overhead * 1000:+.0f} ms per submission "
          f"({overhead / statistics.mean(delays['plain process']):+.1%})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
