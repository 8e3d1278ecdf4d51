"""The order a batch is graded in: longest first, so the costliest training does not start last.

Each training runs on a fixed number of threads (the arithmetic depends on it), so a batch ends
when its last training does: a 30-epoch CNN started last keeps one core busy while the others sit
idle. Sorting the batch by estimated cost, costliest first (the classic longest-processing-time
rule), lets the cheap trainings fill the other workers meanwhile. Both executors take the
submissions in this order (orchestrate.py hands them to its worker threads in it).

The cost is FLOPs per image x training images x epochs x seeds. The FLOPs come from the
submission's previous result, which the grader wrote from the trainer's own count (an edited
model.py changes them, but rarely by much). A submission never graded has no count: one whose
source names a convolution layer goes first (convolutions are by far the costliest models a course
sees), any other after those with a known cost. That guess is a text search, never running
anything, and the order changes only when results arrive, never a score: a student who games it
moves nothing but their own start time.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from pipeline.config import Track
from pipeline.grading.cache import ResultCache, StaleSubmission

# Layer names (and keras.ops / tf.nn spellings) of convolutions, in model.py or a notebook's JSON.
CONVOLUTION = re.compile(rb"Conv[123]D|Convolution[123]D|SeparableConv|DepthwiseConv|ops\.conv|nn\.conv")
SOURCES = ("model.py", "model.ipynb")
MAX_SCANNED_BYTES = 1_000_000


def _names_convolutions(folder: Path) -> bool:
    for name in SOURCES:
        path = folder / name
        if path.is_file():
            with path.open("rb") as source:
                if CONVOLUTION.search(source.read(MAX_SCANNED_BYTES)):
                    return True
    return False


def estimated_cost(entry: StaleSubmission, cache: ResultCache, track: Track, train_images: int) -> float:
    """FLOPs a submission's trainings take (forward passes, as a relative measure); math.inf for a
    never-counted convolutional model, 0 for any other never-counted one."""
    previous = cache.read(entry.folder.name)
    if previous is not None and previous.mflops_per_image is not None:
        return previous.mflops_per_image * 1e6 * train_images * track.schedule.epochs * track.seeds
    return math.inf if _names_convolutions(entry.folder) else 0.0


def batch_order(order: str, stale: list[StaleSubmission], cache: ResultCache, track: Track,
                train_images: int) -> list[StaleSubmission]:
    """The batch in params' grading.order: "longest_first", or "folder" (as listed)."""
    if order == "longest_first":
        return longest_first(stale, cache, track, train_images)
    return list(stale)


def longest_first(stale: list[StaleSubmission], cache: ResultCache, track: Track,
                  train_images: int) -> list[StaleSubmission]:
    """The batch, costliest first; equal costs keep folder order (the sort is stable)."""
    costs = {entry.folder: estimated_cost(entry, cache, track, train_images) for entry in stale}
    return sorted(stale, key=lambda entry: -costs[entry.folder])
