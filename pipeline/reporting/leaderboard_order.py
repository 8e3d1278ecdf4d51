"""The MLflow sort key of the leaderboard: numbers that sort the runs in rank order, of which a
change rewrites only the runs that moved past others, not every run whose rank number shifted.

A rank number is the wrong thing to keep on 1,000 runs: one student climbing from 900th to 1st
shifts 899 ranks, and each is an MLflow write. The key keeps the order instead (fractional
indexing): the runs whose keys still sort in the new order keep them (the longest increasing run
of held keys along the new order), and only the others get new ones, spaced evenly between their
kept neighbours (a student moving into 12th between keys 11 and 12 gets 11.5). When a gap is too
narrow to share, or most runs need a new key anyway (a full re-rank), every run is numbered again
1, 2, 3, ... : after such a renumbering (and on the first publish) the key equals the rank.
"""

from __future__ import annotations

import bisect
from typing import Optional

# Narrowest spacing handed out before everything is renumbered: about 20 halvings of a gap of 1,
# and far wider than a double's resolution at the size of a class (1e-13 near 1,000).
MIN_GAP = 1e-6


def _kept_positions(keys: list[Optional[float]]) -> set[int]:
    """Positions of a longest strictly increasing subsequence of the held keys (None skipped)."""
    tails: list[float] = []  # tails[k]: the smallest last key of an increasing run of length k+1
    tail_positions: list[int] = []
    previous: dict[int, Optional[int]] = {}
    for position, key in enumerate(keys):
        if key is None:
            continue
        length = bisect.bisect_left(tails, key)
        previous[position] = tail_positions[length - 1] if length else None
        if length == len(tails):
            tails.append(key)
            tail_positions.append(position)
        else:
            tails[length], tail_positions[length] = key, position
    kept: set[int] = set()
    position = tail_positions[-1] if tail_positions else None
    while position is not None:
        kept.add(position)
        position = previous[position]
    return kept


def _spaced(low: Optional[float], high: Optional[float], count: int) -> Optional[list[float]]:
    """`count` keys strictly between `low` and `high` (either may be open); None if too narrow."""
    if low is None and high is None:
        return [float(index) for index in range(1, count + 1)]
    if high is None:
        return [low + index for index in range(1, count + 1)]
    if low is None:
        return [high - count - 1 + index for index in range(1, count + 1)]
    step = (high - low) / (count + 1)
    if step < MIN_GAP:
        return None
    return [low + step * index for index in range(1, count + 1)]


def order_keys(ordered: list[str], held: dict[str, float]) -> dict[str, float]:
    """A key for each submission of `ordered` (the leaderboard, best first) that sorts ascending in
    that order, keeping every held key (`held`: what the runs carry now) that can stay."""
    keys: list[Optional[float]] = [held.get(name) for name in ordered]
    keys = [None if key is None or key != key else float(key) for key in keys]  # NaN: none held
    kept = _kept_positions(keys)
    renumbered = {name: float(rank) for rank, name in enumerate(ordered, start=1)}
    if 2 * len(kept) < len(ordered):
        return renumbered  # most need a new key anyway: at most twice the writes, and keys = ranks again
    new_keys: list[float] = []
    waiting: list[int] = []  # positions between the last kept key and the next
    last_kept: Optional[float] = None
    for position in [*range(len(ordered)), None]:
        if position is not None and position not in kept:
            waiting.append(position)
            continue
        bound = keys[position] if position is not None else None
        if waiting:
            spaced = _spaced(last_kept, bound, len(waiting))
            if spaced is None:
                return renumbered
            new_keys.extend(spaced)
            waiting = []
        if position is not None:
            new_keys.append(bound)
            last_kept = bound
    return dict(zip(ordered, new_keys))
