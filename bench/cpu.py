"""CPU seconds each part of the stack spends while a stage runs.

A stage that keeps every core busy cannot get faster by overlapping more: only by doing less.
``cpu_seconds`` reads user + system time of each process (and of its children, live and
reaped: PostgreSQL's backends and autovacuum workers are the postmaster's children) before and
after, so that the benchmark can say where a stage's CPU goes and how much of the machine it
used (``busy``: CPU seconds / (wall seconds x cores)).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil


def _cpu_seconds(pid: int) -> float | None:
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total: float = times.user + times.system + times.children_user + times.children_system
        for child in proc.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.Error:
                continue
            total += child_times.user + child_times.system
    except psutil.Error:
        return None
    return total


@dataclass
class CpuUse:
    seconds: dict[str, float] = field(default_factory=dict)
    """CPU seconds per process name"""
    busy: float = 0.0
    """the share of the machine's cores the named processes kept busy"""


def _read(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        seconds = _cpu_seconds(pid)
        if seconds is not None:
            out[name] = seconds
    return out


@contextlib.contextmanager
def cpu_seconds(pids: dict[str, int]) -> Iterator[CpuUse]:
    """``with cpu_seconds({"postgres": pid, ...}) as use: ...``, then read ``use``."""
    use = CpuUse()
    start = _read(pids)
    started = time.perf_counter()
    try:
        yield use
    finally:
        wall = time.perf_counter() - started
        end = _read(pids)
        use.seconds = {name: max(0.0, end[name] - start[name]) for name in end if name in start}
        use.busy = sum(use.seconds.values()) / (wall * (os.cpu_count() or 1))
