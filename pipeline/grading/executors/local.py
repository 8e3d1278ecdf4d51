"""The local executor: `workers` trainings at a time on this machine, each in its own sandbox."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

from pipeline.config import Track
from pipeline.grading import jobs
from pipeline.grading.executors.base import local_threads
from pipeline.sandbox import leftovers
from pipeline.sandbox.isolation import Isolation


class LocalExecutor:
    name = "local"

    def __init__(self, inputs: jobs.TrainingInputs, isolation: Isolation, workers: int = 1,
                 threads: Optional[int] = None):
        self.inputs, self.isolation, self.workers = inputs, isolation, workers
        self.threads = threads or local_threads(workers)
        self._arrays_dir: Optional[Path] = None  # the track's arrays, written once, on first use
        self._arrays_lock = threading.Lock()

    def arrays_dir(self) -> Path:
        with self._arrays_lock:
            if self._arrays_dir is None:
                folder = Path(tempfile.mkdtemp(prefix=leftovers.scratch_prefix("arrays")))
                jobs.write_arrays(folder, self.inputs)
                self._arrays_dir = folder
            return self._arrays_dir

    def train(self, submission_dir: Path, track: Track,
              on_line: Optional[Callable[[str], None]] = None,
              on_training: Optional[Callable[[], None]] = None) -> jobs.TrainingRun:
        return jobs.run_in_sandbox(submission_dir, self.inputs, track, self.threads, self.isolation, on_line,
                                   on_training, self.arrays_dir())

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._arrays_dir is not None:
            shutil.rmtree(self._arrays_dir, ignore_errors=True)
