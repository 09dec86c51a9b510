"""The sink's progress watchdog: lag on its partitions and nothing applied is a stall.

Every transaction the consumer commits, and every offset commit, counts as progress; so does
having no lag on the assigned partitions (nothing to do). When the assigned partitions have lag
and no progress was made for ``ready_after_s``, the replica reports itself not ready; past
``live_after_s`` it reports itself not live too (``/healthz`` 503), unless it already says why
it is held (PostgreSQL or Kafka down: it is retrying, a restart would not help). A paused
replica is never stalled. Each change of verdict is logged once, with the reason.

The deadlines on every PostgreSQL and Kafka call are what end a hung call; this is the net
under them, for whatever hang nobody has thought of yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from batchpipe_sink import metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Verdict:
    ready: bool
    live: bool
    reason: str | None


class ProgressWatchdog:
    def __init__(
        self,
        ready_after_s: float,
        live_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ready_after = ready_after_s
        self._live_after = live_after_s
        self._clock = clock
        self._progress_at = clock()
        self._behind = 0
        self._last: Verdict = Verdict(True, True, None)

    def progressed(self) -> None:
        """A transaction or an offset commit went through."""
        self._progress_at = self._clock()

    def lag(self, messages_behind: int) -> None:
        """The assigned partitions' lag, as last measured (0: nothing to do is progress)."""
        self._behind = messages_behind
        if messages_behind == 0:
            self.progressed()

    def stalled_for(self) -> float:
        return self._clock() - self._progress_at if self._behind > 0 else 0.0

    def verdict(self, *, paused: bool, held: str | None) -> Verdict:
        stalled = 0.0 if paused else self.stalled_for()
        metrics.STALLED_SECONDS.set(stalled)
        reason = None
        if stalled >= self._ready_after:
            reason = (
                f"no chunk applied for {stalled:.0f} s with {self._behind} messages behind "
                "on the assigned partitions"
            )
        verdict = Verdict(
            ready=reason is None,
            live=stalled < self._live_after or held is not None,
            reason=reason,
        )
        self._report(verdict, held)
        return verdict

    def _report(self, verdict: Verdict, held: str | None) -> None:
        if verdict == self._last:
            return
        if not verdict.live:
            metrics.WATCHDOG_TRIPS.labels("live").inc()
            log.error(
                "stalled: reporting not live so that the replica is restarted",
                reason=verdict.reason,
            )
        elif not verdict.ready:
            metrics.WATCHDOG_TRIPS.labels("ready").inc()
            log.error("stalled: reporting not ready", reason=verdict.reason, held=held)
        else:
            log.info("progressing again", after=self._last.reason)
        self._last = verdict
