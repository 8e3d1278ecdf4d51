"""`leaderboard [--track T]`: write results/leaderboard.csv, .md, metrics.json and grades.csv; print the tables."""

from __future__ import annotations

from typing import Optional

from pipeline.commands import EXIT_OK
from pipeline.config import Settings

TERMINAL_ROWS = 20  # leaderboard rows `leaderboard` and `report` print; the file has them all


def main(*, settings: Settings, tracks: Optional[list[str]] = None, ranked_tables: Optional[dict] = None,
         worker=None) -> int:
    """`ranked_tables`, if given, receives each track's ranked table (for `report`'s site);
    `worker`: where the plots are drawn (reporting.chart_worker; None: here)."""
    from pipeline.reporting import leaderboard, rubric

    params, results = settings.params, settings.paths.results
    for track_name in tracks or []:
        params.track(track_name)  # unknown names are a clear error, not an empty table
    reveal = params.leaderboard.reveal_private
    ranked_tables = {} if ranked_tables is None else ranked_tables
    table = leaderboard.write_leaderboards(results, list(params.tracks), reveal, ranked_tables,
                                           params.leaderboard.tie_break, worker)
    grades = rubric.write_grades(results, ranked_tables, params.grades, reveal)
    for track_name in tracks or list(params.tracks):
        shown = table[table["track"] == track_name]
        # The top of a large class on the terminal; every row is in the file.
        print(leaderboard.to_markdown(shown.head(TERMINAL_ROWS), track_name))
        if len(shown) > TERMINAL_ROWS:
            print(f"... {len(shown) - TERMINAL_ROWS} more rows in {results / leaderboard.MARKDOWN_FILE}\n")
    print(f"{len(grades)} student(s) in {results / rubric.GRADES_FILE}")
    return EXIT_OK
