"""How busy the machine was with other work while a benchmark ran (it is shared)."""

from __future__ import annotations

import os
import resource
from pathlib import Path

__all__ = ["busy_seconds", "load_average", "own_seconds"]


def busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (all processes)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process and its finished children (servers, py-spy)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def process_seconds(name: str) -> float | None:
    """CPU seconds of the running processes named ``name`` (``/proc/*/comm``); None if none."""
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``/proc/loadavg`` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
