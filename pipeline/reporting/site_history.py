"""A track's history (`history.load`) as the site draws it, read in time linear in its changes:
each submission's line from its change points, each grade run's leader, median and ranked count
from the run's summary row, and the ranks at the run before the last (for the rank change).

Nothing here spreads the changes back over every run: at 1,000 students and 40 runs that was
40,000 rows rebuilt and re-ranked on every report, for a chart whose lines are flat steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # a HistoryView reaches the chart worker, which should not import pandas for it
    from pipeline.reporting import history


@dataclass
class HistoryView:
    """What the history chart, the runs table and the rank changes read."""

    times: list[str] = field(default_factory=list)  # the runs the chart spans (someone was ranked), oldest first
    leader_accuracy: list[float] = field(default_factory=list)  # per run of `times`
    median_accuracy: list[Optional[float]] = field(default_factory=list)  # per run of `times`
    # Per submission, (index in `times`, public accuracy) at its first and last scored run and at each
    # run its accuracy changed: the points of its step line, in run order.
    lines: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)  # every run, oldest first: history.RUN_COLUMNS
    # Each submission present at the run before the last: its rank then (None: unranked). Empty
    # before two runs.
    previous_ranks: dict[str, Optional[int]] = field(default_factory=dict)


def _number(value) -> Optional[float]:
    """A float, or None for a missing value (None, NaN, pandas' NA)."""
    try:
        number = float(value)
    except TypeError:  # None, pd.NA
        return None
    return None if number != number else number


def read(past: history.History, order: list[str]) -> HistoryView:
    """The view of `past`, in one pass over its points and one over its runs. `order`: today's
    leaderboard (its submissions), which orders ties at the previous run as the old ranks did."""
    runs = past.runs.to_dict("records")
    charted = [run for run in runs if run["ranked"] > 0]
    view = HistoryView(times=[run["time"] for run in charted],
                       leader_accuracy=[float(run["leader_accuracy"]) for run in charted],
                       median_accuracy=[_number(run["median_accuracy"]) for run in charted], runs=runs)
    chart_index = {time: index for index, time in enumerate(view.times)}
    run_index = {run["time"]: index for index, run in enumerate(runs)}
    previous_run = len(runs) - 2  # whose ranks the rank change compares with
    previous: dict[str, Optional[float]] = {}
    columns = (past.points[name].tolist() for name in ("submission", "time", "public_accuracy", "runs"))
    for submission, time, accuracy, spans in zip(*columns):  # points: by submission, then time
        accuracy = _number(accuracy)
        start = run_index[time]
        if start <= previous_run < start + spans:  # this point's state held at the previous run
            previous[submission] = accuracy
        if accuracy is None or time not in chart_index:
            continue
        line = view.lines.setdefault(submission, [])
        if len(line) > 1 and line[-1][1] == line[-2][1]:
            line.pop()  # no longer the last point, and not a change: the middle of a flat step
        line.append((chart_index[time], accuracy))
    if previous_run >= 0:
        view.previous_ranks = _ranks(previous, order)
    return view


def _ranks(accuracies: dict[str, Optional[float]], order: list[str]) -> dict[str, Optional[int]]:
    """Ranks by accuracy (None: not scored), ties in today's leaderboard order, then by id."""
    position = {submission: index for index, submission in enumerate(order)}
    scored = sorted((submission for submission, accuracy in accuracies.items() if accuracy is not None),
                    key=lambda submission: (-accuracies[submission], position.get(submission, len(order)), submission))
    ranks: dict[str, Optional[int]] = {submission: None for submission in accuracies}
    ranks.update({submission: rank for rank, submission in enumerate(scored, start=1)})
    return ranks
