"""`python -m pipeline new <id>`: start a submission from a commented template that passes check."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = Path(__file__).parent / "templates" / "model.py.txt"
# Folder names become MLflow run names and file names: keep them plain.
VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def create_submission(submissions_dir: Path, submission_id: str) -> Path:
    """Write submissions/<id>/model.py from the template; never overwrite existing work."""
    if not VALID_ID.match(submission_id):
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
