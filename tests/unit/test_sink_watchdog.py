"""The sink's progress watchdog on a fake clock: lag without progress is a stall."""

from __future__ import annotations

from batchpipe_sink.watchdog import ProgressWatchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watchdog() -> tuple[ProgressWatchdog, Clock]:
    clock = Clock()
    return ProgressWatchdog(ready_after_s=20, live_after_s=45, clock=clock), clock


def test_lag_without_progress_is_not_ready_then_not_live() -> None:
    dog, clock = _watchdog()
    dog.lag(543)
    clock.now += 19
    assert dog.verdict(paused=False, held=None).ready
    clock.now += 2
    verdict = dog.verdict(paused=False, held=None)
    assert not verdict.ready and verdict.live
    assert verdict.reason == (
        "no chunk applied for 21 s with 543 messages behind on the assigned partitions"
    )
    clock.now += 25
    assert not dog.verdict(paused=False, held=None).live


def test_progress_and_an_empty_backlog_reset_it() -> None:
    dog, clock = _watchdog()
    dog.lag(10)
    clock.now += 30
    dog.progressed()
    assert dog.verdict(paused=False, held=None).ready
    clock.now += 30
    dog.lag(0)  # nothing to do is not a stall
    clock.now += 100
    assert dog.verdict(paused=False, held=None).ready


def test_a_held_replica_stays_live_and_a_paused_one_is_never_stalled() -> None:
    dog, clock = _watchdog()
    dog.lag(10)
    clock.now += 100
    held = dog.verdict(paused=False, held="postgres: connection refused")
    assert not held.ready and held.live
    assert dog.verdict(paused=True, held=None).ready
