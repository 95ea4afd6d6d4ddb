"""A process's CPU time and memory from ``/proc`` (Linux): what a benchmark reads of the process it measures."""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of process ``pid`` (``/proc/<pid>/stat`` utime + stime)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def proc_memory(pid: int | None = None) -> dict[str, int]:
    """``rss`` (VmRSS) and ``peak_rss`` (VmHWM, the kernel's high-water mark) of process ``pid`` (default: this
    one), in bytes."""
    wanted = {"VmRSS": "rss", "VmHWM": "peak_rss"}
    memory: dict[str, int] = {}
    where = "self" if pid is None else str(pid)
    for line in Path(f"/proc/{where}/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            memory[wanted[key]] = int(value.split()[0]) * 1024
    return memory
