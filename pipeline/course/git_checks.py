"""Git history checks: which students' histories an instructor should look at, and why.

Commit dates are set by the student's machine, so collect cannot prove a date; it can point at the
histories where the dates or the history itself do not add up. Each finding is one "check: ..."
line naming the commits, written to submission.yaml and printed in the summary. Nothing here
changes what is collected or its lateness: the instructor decides.

- a commit dated earlier than its parent (a date set by hand, or a wrong clock);
- a history rewritten since the last collect (the commit collected then is no longer on the branch,
  e.g. amended and force-pushed), with the lateness then and now;
- commit dates far from the collection: in the future, or dated before the deadline yet absent
  from a collect made after it (pushed after the date it claims).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Callable, Optional

from pipeline.course.git_intake import Commit

# A commit dated this far after the collection is "in the future"; less is ordinary clock drift.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
MAX_LISTED = 3  # commits named per check


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PreviousCollect:
    """What the last collect of this student saw (from submission.yaml and the repository cache)."""

    commit: Optional[str] = None  # the commit collected then (submission.yaml)
    lateness: str = ""  # how it was described then, e.g. "2 day(s) late"
    collected_at: Optional[datetime.datetime] = None  # when the last collect ran (cache)
    tip: Optional[str] = None  # the branch's newest commit then (cache)


def dated_before_parent(history: list[Commit], only: set[str]) -> list[str]:
    """Commits among `only` (the student's own) dated before one of their parents."""
    by_sha = {commit.sha: commit for commit in history}
    checks = []
    for commit in history:
        if commit.sha not in only:
            continue
        for parent_sha in commit.parents:
            parent = by_sha.get(parent_sha)
            if parent is not None and commit.time < parent.time:
                checks.append(f"check: commit {commit.short} is dated {_iso(commit.time)}, before its parent "
                              f"{parent.short} ({_iso(parent.time)}): a date set by hand or a wrong clock")
    return checks


def in_the_future(history: list[Commit], now: datetime.datetime) -> list[str]:
    future = [commit for commit in history if commit.time > now + FUTURE_TOLERANCE]
    if not future:
        return []
    named = ", ".join(f"{commit.short} ({_iso(commit.time)})" for commit in future[:MAX_LISTED])
    return [f"check: {len(future)} commit(s) dated after this collect: {named}: a date set by hand or a wrong clock"]


def rewritten(previous: PreviousCollect, chosen: Commit, now_lateness: str,
              on_branch: Callable[[str], bool]) -> list[str]:
    if not previous.commit or previous.commit == chosen.sha or on_branch(previous.commit):
        return []
    return [f"check: history rewritten since the last collect: {previous.commit[:10]} (collected then, "
            f"{previous.lateness}) is no longer on the branch; {chosen.short} collected now ({now_lateness})"]


def pushed_after_their_date(history: list[Commit], previous: PreviousCollect, deadline: Optional[datetime.datetime],
                            known_then: Callable[[str], bool]) -> list[str]:
    """Commits dated on time that were not on the branch at a collect made after the deadline."""
    if deadline is None or previous.collected_at is None or previous.tip is None or previous.collected_at <= deadline:
        return []
    late_arrivals = [commit for commit in history if commit.time <= deadline and not known_then(commit.sha)]
    if not late_arrivals:
        return []
    named = ", ".join(f"{commit.short} ({_iso(commit.time)})" for commit in late_arrivals[:MAX_LISTED])
    return [f"check: {len(late_arrivals)} commit(s) dated before the deadline were not on the branch at the last "
            f"collect ({_iso(previous.collected_at)}, after the deadline): {named}: pushed after the date they claim"]
