"""Late-policy arithmetic: how late a hand-in is, what it costs, and whether it is accepted.

Days late are *started* days: one second late is 1 day, 24 h + 1 s is 2 days (as Gradescope and
most course handbooks count). The penalty is a fraction of the marks (0.2 = 20 % off), never above
1. A hand-in beyond the policy's last day (penalty.max_days, reject.after_days) is rejected.

Late with its days unknown (Canvas marked it LATE, but no submission time was supplied): it counts
as the least it can be, 1 started day. So `accept` flags it, `penalty` takes one day's percentage,
and `reject` accepts it unless after_days is 0. late_days is recorded as None (unknown).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Optional

from pipeline.course_settings import AcceptLate, LatePolicy, PenaltyLate, RejectLate

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Lateness:
    late: bool
    late_days: Optional[int]  # None: late, but by how much is unknown
    penalty: float  # fraction of the marks taken off, 0..1
    accepted: bool  # False: beyond the policy's last day, so not collected


ON_TIME = Lateness(late=False, late_days=0, penalty=0.0, accepted=True)


def late_days(submitted_at: datetime.datetime, deadline: datetime.datetime) -> int:
    """Started days after the deadline (0 when on time, at the deadline itself included)."""
    overdue = submitted_at - deadline
    if overdue <= datetime.timedelta(0):
        return 0
    return math.ceil(overdue / DAY)


def cutoff(deadline: Optional[datetime.datetime], policy: LatePolicy) -> Optional[datetime.datetime]:
    """The last moment a hand-in is still accepted (None: no limit)."""
    if deadline is None or isinstance(policy, AcceptLate):
        return None
    if isinstance(policy, PenaltyLate):
        return deadline + policy.max_days * DAY
    if isinstance(policy, RejectLate):
        return deadline + policy.after_days * DAY
    raise TypeError(f"unknown late policy {policy!r}")


def assess(submitted_at: Optional[datetime.datetime], deadline: Optional[datetime.datetime],
           policy: LatePolicy) -> Lateness:
    """Lateness of one hand-in. No deadline, or no known submission time: on time."""
    if deadline is None or submitted_at is None:
        return ON_TIME
    return assess_days(late_days(submitted_at, deadline), policy)


def _window_days(policy: LatePolicy) -> Optional[int]:
    if isinstance(policy, PenaltyLate):
        return policy.max_days
    if isinstance(policy, RejectLate):
        return policy.after_days
    return None


def assess_days(days: int, policy: LatePolicy) -> Lateness:
    """Lateness of a hand-in `days` started days late (0: on time)."""
    if days <= 0:
        return ON_TIME
    window = _window_days(policy)
    # Started days: submitted <= deadline + N days exactly when it is at most N started days late.
    accepted = window is None or days <= window
    penalty = 0.0
    if isinstance(policy, PenaltyLate):
        # Rounded so that 3 days x 10 % is recorded as 0.3, not 0.30000000000000004.
        penalty = round(min(1.0, days * policy.percent_per_day / 100), 6)
    return Lateness(late=True, late_days=days, penalty=penalty, accepted=accepted)


def assess_unknown_days(policy: LatePolicy) -> Lateness:
    """Late by an unknown number of days: the policy applied to 1 day, the least it can be (module doc)."""
    one_day = assess_days(1, policy)
    return Lateness(late=True, late_days=None, penalty=one_day.penalty, accepted=one_day.accepted)


def describe(lateness: Lateness) -> str:
    if not lateness.late:
        return "on time"
    if lateness.late_days is None:
        text = "late, days unknown (counted as 1)"
    else:
        text = f"{lateness.late_days} day(s) late"
    if lateness.penalty:
        text += f", penalty {lateness.penalty * 100:g}%"
    return text
