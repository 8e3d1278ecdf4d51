"""How many cores this process may use: the CPUs it is allowed to run on (a container's or
`taskset`'s limit), not every CPU the machine has. One answer for every "is a core free?"."""

from __future__ import annotations

import os


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
