"""Peak resident memory of processes, sampled in a background thread while a stage runs."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil


class PeakRss:
    """``with PeakRss({"pg-sink-1": pid, ...}) as peak: ...`` then ``peak.mb`` per name."""

    def __init__(self, pids: dict[str, int], interval: float = 0.05) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.mb: dict[str, float] = dict.fromkeys(pids, 0.0)

    def _sample(self) -> None:
        while True:
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.mb[name] = max(self.mb[name], rss)
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
