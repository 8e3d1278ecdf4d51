"""The local executor: `workers` trainings at a time on this machine, each in its own sandbox.

While more jobs are coming it keeps one spare sandbox pair started (pair.SandboxPair without a
submission): the next job's two TensorFlow imports, about 1.8 s, then overlap the current job
instead of adding to it. A run of one job starts no spare, so nothing competes with its training.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

from pipeline.config import Track
from pipeline.sandbox.pair import SandboxPair, TrainingInputs, TrainingRun, write_arrays
from pipeline.sandbox import leftovers
from pipeline.sandbox.isolation import Isolation


class LocalExecutor:
    name = "local"

    def __init__(self, inputs: TrainingInputs, isolation: Isolation, threads: int, workers: int = 1):
        self.inputs, self.isolation, self.workers, self.threads = inputs, isolation, workers, threads
        self._arrays_dir: Optional[Path] = None  # the track's arrays, written once, on first use
        self._arrays_lock = threading.Lock()
        self._spare_lock = threading.Lock()
        self._spare: Optional[SandboxPair] = None
        self._jobs_to_come = 0
        self.spares_used = 0  # jobs that ran on a pre-started pair (bench and tests read it)

    def expect(self, count: int) -> None:
        """How many train() calls this run will make (a spare is started only while more are coming)."""
        with self._spare_lock:
            self._jobs_to_come = count

    def arrays_dir(self) -> Path:
        with self._arrays_lock:
            if self._arrays_dir is None:
                folder = Path(tempfile.mkdtemp(prefix=leftovers.scratch_prefix("arrays")))
                write_arrays(folder, self.inputs)
                self._arrays_dir = folder
            return self._arrays_dir

    def train(self, submission_dir: Path, track: Track,
              on_line: Optional[Callable[[str], None]] = None,
              on_training: Optional[Callable[[], None]] = None) -> TrainingRun:
        with self._spare_lock:
            self._jobs_to_come -= 1
            pair = None
            if self._spare is not None and self._spare.fits(track, self.threads):
                pair, self._spare = self._spare, None
        if pair is not None:
            try:
                pair.start_job(submission_dir, track)
                with self._spare_lock:
                    self.spares_used += 1
            except (OSError, shutil.Error):  # files a copy cannot take (a FIFO): bind the folder itself
                pair.cancel()
                pair = None
        if pair is None:
            pair = SandboxPair(self.inputs, track, self.threads, self.isolation, self.arrays_dir(), submission_dir)
        self._start_spare(track)
        return pair.finish(on_line, on_training)

    def _start_spare(self, track: Track) -> None:
        with self._spare_lock:
            # Each seed of a multi-seed track is its own hash seed at start: no spare fits them all.
            if self._spare is not None or self._jobs_to_come <= 0 or len(track.seed_list()) > 1:
                return
            self._spare = SandboxPair(self.inputs, track, self.threads, self.isolation, self.arrays_dir())

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.cancel()
        if self._arrays_dir is not None:
            shutil.rmtree(self._arrays_dir, ignore_errors=True)
