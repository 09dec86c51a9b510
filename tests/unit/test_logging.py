"""``RepeatedMessageFilter``: a noisy library's repeats are dropped and counted, others pass."""

from __future__ import annotations

import logging

from batchpipe_common.logging import RepeatedMessageFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_copies_within_the_window_are_dropped_and_the_next_one_counts_them() -> None:
    clock = Clock()
    repeats = RepeatedMessageFilter(window=30, clock=clock)
    refused = "Unable connect to node with id %s: [Errno 111] Connection refused"
    passed = [repeats.filter(record("aiokafka", refused, 1)) for _ in range(500)]
    assert passed.count(True) == 1
    clock.now += 31
    later = record("aiokafka", refused, 1)
    assert repeats.filter(later)
    assert later.getMessage() == (
        "Unable connect to node with id 1: [Errno 111] Connection refused"
        " (repeated 499 more times in 30 s)"
    )
    # nothing dropped since: the next copy after another window is shown as it is
    clock.now += 31
    plain = record("aiokafka", refused, 1)
    assert repeats.filter(plain)
    assert "repeated" not in plain.getMessage()


def test_distinct_messages_levels_and_other_loggers_are_never_merged() -> None:
    repeats = RepeatedMessageFilter(window=30, clock=Clock())
    assert repeats.filter(record("aiokafka", "node %s down", 1))
    assert repeats.filter(record("aiokafka", "node %s down", 2))
    assert repeats.filter(record("aiokafka", "node %s down", 1, level=logging.WARNING))
    assert repeats.filter(record("aiokafka.conn", "node %s down", 1))
    # our own loggers are never filtered, however often they repeat
    assert all(repeats.filter(record("batchpipe_sink", "chunk loaded")) for _ in range(50))
