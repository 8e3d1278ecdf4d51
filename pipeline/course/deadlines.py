"""Late-policy arithmetic: how late a hand-in is, what it costs, and whether it is accepted.

Days late are *started* days: one second late is 1 day, 24 h + 1 s is 2 days (as Gradescope and
most course handbooks count). The penalty is a fraction of the marks (0.2 = 20 % off), never above
1. A hand-in beyond the policy's last day (penalty.max_days, reject.after_days) is rejected.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Optional

from pipeline.course.settings import AcceptLate, LatePolicy, PenaltyLate, RejectLate

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Lateness:
    late: bool
    late_days: int
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
    days = late_days(submitted_at, deadline)
    if days == 0:
        return ON_TIME
    last = cutoff(deadline, policy)
    accepted = last is None or submitted_at <= last
    penalty = 0.0
    if isinstance(policy, PenaltyLate):
        # Rounded so that 3 days x 10 % is recorded as 0.3, not 0.30000000000000004.
        penalty = round(min(1.0, days * policy.percent_per_day / 100), 6)
    return Lateness(late=True, late_days=days, penalty=penalty, accepted=accepted)


def describe(lateness: Lateness) -> str:
    if not lateness.late:
        return "on time"
    text = f"{lateness.late_days} day(s) late"
    if lateness.penalty:
        text += f", penalty {lateness.penalty * 100:g}%"
    return text
