"""`report`: `leaderboard` then `site`, in one process: the DVC stage that writes what people read."""

from __future__ import annotations

from pipeline.commands import leaderboard, site
from pipeline.config import Settings


def main(*, settings: Settings) -> int:
    from pipeline.reporting.chart_worker import ChartWorker

    ranked_tables: dict = {}
    # One worker draws every chart (leaderboard's plots, then the site's) while this process
    # ranks and renders: matplotlib is imported there only. No page waits for a chart, so they
    # are drawn in the order they are asked for: the plots while this process ranks.
    with ChartWorker() as worker:
        leaderboard.main(settings=settings, ranked_tables=ranked_tables, worker=worker)
        return site.main(settings=settings, ranked_tables=ranked_tables, worker=worker)  # the same ranking
