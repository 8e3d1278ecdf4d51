"""`new <id>`: start submissions/<id>/model.py from a commented template that passes check."""

from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK
from pipeline.config import SAFE_ID, Settings

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "model.py.txt"


def create_submission(submissions_dir: Path, submission_id: str) -> Path:
    """Write submissions/<id>/model.py from the template; never overwrite existing work."""
    if not SAFE_ID.match(submission_id):
        raise ValueError(
            f"submission id {submission_id!r} is not allowed: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (at most 64 characters)"
        )
    folder = submissions_dir / submission_id
    model_path = folder / "model.py"
    if model_path.exists():
        raise FileExistsError(f"{model_path} already exists: not overwriting it")
    folder.mkdir(parents=True, exist_ok=True)
    model_path.write_text(TEMPLATE.read_text().replace("{submission_id}", submission_id))
    return model_path


def main(*, settings: Settings, submission_id: str) -> int:
    path = create_submission(settings.paths.submissions, submission_id)
    print(f"created {path}\nedit it, then check it with: python -m pipeline check {path.parent}")
    return EXIT_OK
