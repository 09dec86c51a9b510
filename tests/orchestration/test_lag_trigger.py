"""``BatchDrainedTrigger`` against the stack's real Kafka broker, without Airflow running.

Each test uses its own topics and consumer group (``kafka_batches``); the group has no
members, and the trigger must still see its committed offsets.
The trigger's ``run()`` is driven directly; its offset reads are observed through a wrapper
around ``batch_progress`` so the tests synchronise on what it saw, never on time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("airflow", reason="runs in .venvs/airflow: make test-orchestration")

from batchpipe_airflow import triggers
from batchpipe_airflow.lag import BatchProgress
from batchpipe_airflow.triggers import BatchDrainedTrigger
from tests.orchestration.kafka_batches import DATA_PARTITIONS, DLQ_PARTITIONS, Batchpipe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Observed:
    """Every ``BatchProgress`` the trigger read, with a way to wait for one that matches."""

    def __init__(self) -> None:
        self.seen: list[BatchProgress] = []
        self._changed = asyncio.Condition()

    async def record(self, progress: BatchProgress) -> None:
        async with self._changed:
            self.seen.append(progress)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[BatchProgress], bool]) -> BatchProgress:
        async with self._changed:
            await self._changed.wait_for(lambda: any(predicate(p) for p in self.seen))
            return next(p for p in self.seen if predicate(p))


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> Observed:
    seen = Observed()
    real: Callable[..., Awaitable[BatchProgress]] = triggers.batch_progress

    async def spy(*args: Any, **kwargs: Any) -> BatchProgress:
        progress = await real(*args, **kwargs)
        await seen.record(progress)
        return progress

    monkeypatch.setattr(triggers, "batch_progress", spy)
    return seen


async def first_event(trigger: BatchDrainedTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise AssertionError("the trigger ended without an event")


async def test_waits_while_nothing_is_committed_and_fires_once_the_sink_drains(
    pipe: Batchpipe, observed: Observed
) -> None:
    manifest = await pipe.produce_batch("batch-a", chunks=7, dead_letters=3)
    task = asyncio.create_task(first_event(pipe.trigger(manifest, time.time() + 90)))

    nothing = await observed.wait_for(lambda p: p.remaining > 0)
    assert nothing.remaining == 7 + 3
    assert not task.done()

    # the data topic is applied, the dead letters are not: still waiting
    await pipe.commit_past(manifest, only_topic=pipe.topic)
    half = await observed.wait_for(lambda p: 0 < p.remaining < 10)
    assert half.remaining == 3
    assert {p.target.topic for p in half.pending()} == {pipe.dlq}
    assert not task.done()

    await pipe.commit_past(manifest)
    event = await task
    assert event["status"] == "drained"
    assert event["batch_id"] == "batch-a"
    assert event["remaining"] == 0
    assert len(event["partitions"]) == DATA_PARTITIONS + DLQ_PARTITIONS


async def test_a_later_batch_on_the_same_partitions_does_not_make_it_wait(
    pipe: Batchpipe, observed: Observed
) -> None:
    first = await pipe.produce_batch("batch-1", chunks=6, dead_letters=2)
    second = await pipe.produce_batch("batch-2", chunks=6, dead_letters=2)
    await pipe.commit_past(first)

    event = await first_event(pipe.trigger(first, time.time() + 90))
    assert event["status"] == "drained"
    # the group still lags behind the second batch on every partition
    assert observed.seen[-1].drained
    second_trigger = pipe.trigger(second, time.time() - 1)
    late = await first_event(second_trigger)
    assert late["status"] == "timeout"
    assert late["remaining"] == 6 + 2


async def test_times_out_with_a_message_naming_group_batch_and_remaining_lag(
    pipe: Batchpipe, observed: Observed
) -> None:
    manifest = await pipe.produce_batch("batch-stuck", chunks=4, dead_letters=1)
    await pipe.commit_past(manifest, only_topic=pipe.dlq)

    event = await first_event(pipe.trigger(manifest, time.time() + 1.0))
    assert event["status"] == "timeout"
    message = event["message"]
    assert f"sink group {pipe.group!r} did not commit past batch batch-stuck" in message
    assert "4 messages of the batch not yet committed" in message
    assert f"{pipe.topic}[0] committed=none" in message
    assert len(observed.seen) >= 1


async def test_an_unreachable_broker_times_out_naming_the_error(observed: Observed) -> None:
    trigger = BatchDrainedTrigger(
        batch_id="batch-x",
        bootstrap_servers="127.0.0.1:9",
        group_id="nobody",
        targets=[["t", 0, 5]],
        deadline=time.time() + 1.0,
        poll_interval=0.2,
    )
    event = await first_event(trigger)
    assert event["status"] == "timeout"
    assert "no offsets could be read" in event["message"]
    assert "last error" in event["message"]
    assert observed.seen == []


def test_the_trigger_serializes_to_what_rebuilds_it() -> None:
    trigger = BatchDrainedTrigger(
        batch_id="b",
        bootstrap_servers="k:1",
        group_id="g",
        targets=[["t", 1, 2]],
        deadline=5.0,
        initial_delay=3.0,
    )
    path, kwargs = trigger.serialize()
    assert path == "batchpipe_airflow.triggers.BatchDrainedTrigger"
    rebuilt = BatchDrainedTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
