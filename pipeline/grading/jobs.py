"""What a track's sandboxes are given, and one job run on this machine.

`load_inputs` takes the track's slice of the prepared arrays (public arrays and hidden *inputs*,
never hidden labels) once per track; `run_in_sandbox` runs one submission's build and train steps
(sandbox.pair.SandboxPair) and returns what came back. Both are in the grader's cache key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from pipeline.config import Subset, Track
from pipeline.data import layout
from pipeline.sandbox.isolation import Isolation
from pipeline.sandbox.pair import SandboxPair, TrainingInputs, TrainingRun


def take(array: np.ndarray, limit: Optional[int]) -> np.ndarray:
    """The first `limit` items (a track's `subset`), or all of them for None."""
    return array if limit is None else array[:limit]


def load_inputs(prepared_dir: Path, meta: dict, subset: Subset) -> TrainingInputs:
    """`meta`: the prepared dataset's meta.json (shapes and class count)."""
    public = layout.load_public(prepared_dir)
    hidden_x = np.load(prepared_dir / layout.HIDDEN_X_FILE, mmap_mode="r")
    return TrainingInputs(
        x_train=take(public["x_train"], subset.train), y_train=take(public["y_train"], subset.train),
        x_val=take(public["x_val"], subset.validation), y_val=take(public["y_val"], subset.validation),
        hidden_x=np.ascontiguousarray(take(hidden_x, subset.hidden)),
        input_shape=list(meta["input_shape"]), num_classes=int(meta["num_classes"]),
    )


def run_in_sandbox(submission_dir: Path, inputs: TrainingInputs, track: Track, threads: int,
                   isolation: Isolation, on_line: Optional[Callable[[str], None]] = None,
                   on_training: Optional[Callable[[], None]] = None,
                   arrays_dir: Optional[Path] = None) -> TrainingRun:
    """Build, then train one submission with the track's schedule (and seed), each step in its own
    sandbox on this machine (SandboxPair). `on_training()` is called once the build step
    succeeded and the train step goes on (both processes have done their imports by then).
    `arrays_dir`: the run's arrays, written once (write_arrays); without it, this job writes its own.
    """
    pair = SandboxPair(inputs, track, threads, isolation, arrays_dir, submission_dir)
    return pair.finish(on_line, on_training)
