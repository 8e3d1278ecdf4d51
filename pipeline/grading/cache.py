"""The result cache of one track: which submissions are current, which must be graded again.

results/<track>/<id>.json is current when its `cache_key` (the hash of the submission folder and
of the track fingerprint, pipeline/grading/fingerprints.py) matches. So one edited model.py
re-trains alone, a new folder is picked up without a roster, and a new schedule re-grades the
whole track. Results, logs and feedback of deleted submissions are removed.

results/<track>/ holds what decides the results (a result and a log per submission), which DVC
hashes; the feedback drawn for each submission (curves, images, confusion data) goes to a folder
of its own, feedback/<track>/<id>/, which DVC ignores: four files a submission that DVC hashed
one by one on every run, although no result or ranking depends on them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pipeline.grading import fingerprints, results_index, submission_facts
from pipeline.grading.record import LOG_SUFFIX, RESULT_SUFFIX, Result, read_result

FEEDBACK_DIR = "feedback"    # feedback/<track>/ (the command line's), else results/<track>/feedback/
CONFUSION_FILE = "confusion.csv"  # feedback/<track>/<id>/confusion.csv: validation confusion data
OLD_CONFUSION_DIR = "confusion"   # results/<track>/confusion/<id>.csv, where earlier versions put it


def list_submissions(submissions_dir: Path) -> list[Path]:
    """Every folder in submissions/ is a submission (hidden and cache folders excepted)."""
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir}/ does not exist: create it and add submissions/<id>/model.py")
    return sorted(
        path for path in submissions_dir.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )


@dataclass(frozen=True)
class StaleSubmission:
    folder: Path  # resolved
    content_hash: str
    cache_key: str


class ResultCache:
    """results/<track>/: one result and one log per submission, written atomically."""

    def __init__(self, results_dir: Path, feedback_root: Optional[Path] = None):
        """`feedback_root`: the track's feedback folder (default: results_dir/feedback)."""
        self.results_dir = results_dir
        self.feedback_root = feedback_root if feedback_root is not None else results_dir / FEEDBACK_DIR
        results_dir.mkdir(parents=True, exist_ok=True)

    def result_path(self, submission_id: str) -> Path:
        return self.results_dir / f"{submission_id}{RESULT_SUFFIX}"

    def read(self, submission_id: str) -> Optional[Result]:
        return read_result(self.result_path(submission_id))

    def write(self, result: Result, log_tail: str) -> None:
        # The log first: a result on disk always has its log beside it.
        (self.results_dir / f"{result.submission}{LOG_SUFFIX}").write_text(log_tail)
        result.write(self.results_dir)

    def read_current(self, folder: Path) -> Optional[Result]:
        """The stored result with the hand-in fields of the folder's submission.yaml as they are now.

        The record is left out of the cache key (fingerprints.submission_sha256), so a new deadline,
        late policy or extension updates the stored result here, without training anything.
        """
        result = self.read(folder.name)
        if result is None:
            return None
        fresh = submission_facts.handin_facts(folder)
        if any(getattr(result, key) != value for key, value in fresh.items()):
            result = result.model_copy(update=fresh)
            result.write(self.results_dir)
        return result

    def feedback_dir(self, submission_id: str) -> Path:
        return self.feedback_root / submission_id

    def confusion_path(self, submission_id: str) -> Path:
        return self.feedback_dir(submission_id) / CONFUSION_FILE

    def move_old_feedback(self) -> None:
        """Feedback that an earlier version wrote into results/<track>/ moves to `feedback_root`
        (results that are still current are not graded again, so their feedback would be lost)."""
        old_root = self.results_dir / FEEDBACK_DIR
        if old_root == self.feedback_root or not old_root.is_dir():
            return
        for old in old_root.iterdir():
            if old.is_dir() and not self.feedback_dir(old.name).exists():
                self.feedback_root.mkdir(parents=True, exist_ok=True)
                old.rename(self.feedback_dir(old.name))
        old_confusion = self.results_dir / OLD_CONFUSION_DIR
        for old in old_confusion.glob("*.csv"):
            if self.feedback_dir(old.stem).is_dir() and not self.confusion_path(old.stem).exists():
                old.rename(self.confusion_path(old.stem))
        for folder in (old_root, old_confusion):
            shutil.rmtree(folder, ignore_errors=True)

    def remove_deleted(self, current_ids: set[str]) -> None:
        """Results of deleted submissions would linger on the leaderboard: remove them."""
        for old in self.results_dir.glob(f"*{RESULT_SUFFIX}"):
            if old.stem not in current_ids:
                old.unlink()
                old.with_suffix(LOG_SUFFIX).unlink(missing_ok=True)
        if self.feedback_root.is_dir():
            for old in self.feedback_root.iterdir():
                if old.name not in current_ids:
                    shutil.rmtree(old, ignore_errors=True)

    def stale(self, submissions: list[Path], track_key: str,
              known: Optional[dict[str, tuple[str, str]]] = None) -> list[StaleSubmission]:
        """The submissions whose stored result is missing, unreadable or for other inputs.
        `known`: per submission, the cache key and file stamp of its result as the results index
        recorded them (results_index.known_keys): a result file with that stamp is not parsed."""
        known = known or {}
        stale = []
        for folder in submissions:
            folder = folder.resolve()
            content_hash = fingerprints.submission_sha256(folder)
            key = fingerprints.cache_key(content_hash, track_key)
            indexed = known.get(folder.name)
            if indexed is not None and results_index.file_stamp(self.result_path(folder.name)) == indexed[1]:
                stored_key = indexed[0]  # the very file the last run indexed: its key is known
            else:
                existing = self.read(folder.name)
                stored_key = existing.cache_key if existing is not None else None
            if stored_key != key:
                stale.append(StaleSubmission(folder, content_hash, key))
        return stale
