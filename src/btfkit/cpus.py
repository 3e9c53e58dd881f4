"""How many CPUs btfkit's parallel work spreads over by default."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset
    narrow; ``os.cpu_count()`` counts the whole machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
