"""`check <submission>`: the pre-flight check of one submission, exactly as grading runs it."""

from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_VERDICT
from pipeline.commands.preprocess import ensure_prepared
from pipeline.config import Settings, resolve_grading


def main(*, settings: Settings, submission: Path, track: str, unsafe_no_sandbox: bool = False) -> int:
    from pipeline.grading import check

    if not submission.is_dir():
        raise FileNotFoundError(f"{submission} is not a folder: expected submissions/<id>/ holding model.py")
    track_settings = settings.params.track(track)
    prepared_dir = ensure_prepared(settings, track_settings.dataset)
    print(f"checking {submission} on track {track} (2 epochs on a small slice, same sandbox as grading)")
    report = check.check_submission(submission, track, track_settings, prepared_dir,
                                    resolve_grading(settings.params, unsafe_no_sandbox).isolation)
    print("\n".join(report.lines))
    if report.problems:
        print(f"NOT READY: {len(report.problems)} problem(s) above would fail grading")
        return EXIT_VERDICT
    print("READY: grading will accept this submission")
    return EXIT_OK
