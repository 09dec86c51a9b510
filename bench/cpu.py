"""CPU seconds each part of the stack spends while a stage runs.

A stage that keeps every core busy cannot get faster by overlapping more: only by doing less.
``CpuSeconds`` reads user + system time of each process (and of its children, live and
reaped: PostgreSQL's backends and autovacuum workers are the postmaster's children) before and
after, so that the benchmark can say where a stage's CPU goes and how much of the machine it
used (``busy``: CPU seconds / (wall seconds x cores)).
"""

from __future__ import annotations

import os
import time
from types import TracebackType

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


class CpuSeconds:
    """``with CpuSeconds({"postgres": pid, ...}) as cpu: ...`` then ``cpu.seconds`` per name
    and ``cpu.busy`` (the share of the machine's cores the named processes kept busy)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start: dict[str, float] = {}
        self._started = 0.0
        self.seconds: dict[str, float] = {}
        self.busy = 0.0

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self._pids.items():
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                out[name] = seconds
        return out

    def __enter__(self) -> CpuSeconds:
        self._start = self._read()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._started
        end = self._read()
        self.seconds = {
            name: max(0.0, end[name] - self._start[name]) for name in end if name in self._start
        }
        self.busy = sum(self.seconds.values()) / (wall * (os.cpu_count() or 1))
