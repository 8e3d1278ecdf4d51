"""`site`: render site/ (public leaderboard, its history, private feedback pages)."""

from __future__ import annotations

import os
from typing import Optional

from pipeline.commands import EXIT_OK
from pipeline.config import Settings


def main(*, settings: Settings, ranked_tables: Optional[dict] = None, worker=None) -> int:
    """`worker`: where the charts are drawn (reporting.chart_worker; None: a worker of its own)."""
    from pipeline.grading.display_names import read_names
    from pipeline.reporting import site, site_key, site_view
    from pipeline.reporting.chart_worker import ChartWorker

    if worker is None:
        with ChartWorker() as worker:
            return main(settings=settings, ranked_tables=ranked_tables, worker=worker)

    params, paths = settings.params, settings.paths
    # GRADEBENCH_SITE_KEY, else the key file (made on the first run).
    key, where = site_key.resolve_key(paths.site_key, os.environ.get(site_key.SITE_KEY_ENV))
    print(where)
    print("\n".join(site.build_site(paths.results, paths.submissions, paths.site, list(params.tracks),
                                    params.leaderboard.reveal_private, params.site.show_ids, key,
                                    ranked_tables=ranked_tables,
                                    context=site_view.track_context(params, paths.data_prepared),
                                    grades=params.grades, feedback_root=paths.feedback,
                                    tie_break=params.leaderboard.tie_break, chart_dir=paths.chart_cache,
                                    worker=worker, display_names=read_names(paths.results, list(params.tracks)))))
    return EXIT_OK
