"""`report`: `leaderboard` then `site`, in one process: the DVC stage that writes what people read."""

from __future__ import annotations

from pipeline.commands import leaderboard, site
from pipeline.config import Settings


def main(*, settings: Settings) -> int:
    ranked_tables: dict = {}
    leaderboard.main(settings=settings, ranked_tables=ranked_tables)
    return site.main(settings=settings, ranked_tables=ranked_tables)  # the same ranking, not read again
