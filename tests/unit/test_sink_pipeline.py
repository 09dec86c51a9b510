"""The sink's pipeline of units: connections never wait for each other, partitions stay in
order, a failure halts and keeps the failed unit first. Units are applied by a fake that
finishes each one when the test says so."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import TopicPartition

from batchpipe_sink.pipeline import Pipeline
from batchpipe_sink.polling import Unit

A = TopicPartition("bank", 0)
B = TopicPartition("bank", 1)
C = TopicPartition("bank", 2)


def unit(tp: TopicPartition, next_offset: int) -> Unit:
    return Unit(tp=tp, messages=[], next_offset=next_offset, size=1)


class Applier:
    """Records which units started and holds each until ``finish`` (or ``fail``)."""

    def __init__(self) -> None:
        self.started: list[tuple[TopicPartition, int]] = []
        self.applied: list[tuple[TopicPartition, int]] = []
        self._gates: dict[tuple[TopicPartition, int], asyncio.Future[None]] = {}

    async def __call__(self, u: Unit) -> None:
        key = (u.tp, u.next_offset)
        self.started.append(key)
        gate = self._gates[key] = asyncio.get_running_loop().create_future()
        await gate
        self.applied.append(key)

    def running(self) -> set[tuple[TopicPartition, int]]:
        return {k for k, g in self._gates.items() if not g.done()}

    def finish(self, tp: TopicPartition, offset: int) -> None:
        self._gates[(tp, offset)].set_result(None)

    def fail(self, tp: TopicPartition, offset: int) -> None:
        self._gates[(tp, offset)].set_exception(RuntimeError("connection lost"))


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_free_connection_takes_the_next_unit_whichever_poll_it_came_from() -> None:
    applier = Applier()
    pipeline = Pipeline(2, applier)
    pipeline.put([unit(A, 10), unit(B, 20)])  # poll 1
    pipeline.put([unit(C, 30), unit(B, 21)])  # poll 2
    await settled()
    assert applier.running() == {(A, 10), (B, 20)}  # two connections, no more
    applier.finish(B, 20)  # A's unit of poll 1 is still running: no barrier
    await settled()
    assert applier.running() == {(A, 10), (C, 30)}
    applier.finish(C, 30)
    await settled()
    assert applier.running() == {(A, 10), (B, 21)}
    applier.finish(A, 10)
    applier.finish(B, 21)
    await pipeline.drain()
    assert pipeline.idle and pipeline.failure is None
    assert sorted(applier.applied) == [(A, 10), (B, 20), (B, 21), (C, 30)]


async def test_a_partition_has_one_unit_running_and_its_units_run_in_order() -> None:
    applier = Applier()
    pipeline = Pipeline(3, applier)
    pipeline.put([unit(A, 1), unit(A, 2), unit(A, 3)])
    await settled()
    assert applier.running() == {(A, 1)}  # three connections, one partition: one at a time
    for offset in (1, 2, 3):
        assert applier.running() == {(A, offset)}
        applier.finish(A, offset)
        await settled()
    await pipeline.drain()
    assert applier.applied == [(A, 1), (A, 2), (A, 3)]


async def test_a_failure_halts_and_the_failed_unit_is_retried_first_of_its_partition() -> None:
    applier = Applier()
    pipeline = Pipeline(2, applier)
    pipeline.put([unit(A, 1), unit(B, 1), unit(A, 2), unit(C, 1)])
    await settled()
    applier.fail(A, 1)
    await settled()
    assert isinstance(pipeline.failure, RuntimeError)
    assert applier.running() == {(B, 1)}  # halted: nothing new starts
    applier.finish(B, 1)
    await pipeline.settle()
    assert pipeline.queued == 3
    pipeline.resume()
    await settled()
    assert applier.started[-2:] == [(A, 1), (C, 1)]  # A's failed unit again, before A's next
    applier.finish(A, 1)
    applier.finish(C, 1)
    await settled()
    applier.finish(A, 2)
    await pipeline.drain()
    assert applier.applied == [(B, 1), (A, 1), (C, 1), (A, 2)]


async def test_revoked_partitions_lose_their_queue_after_their_running_unit() -> None:
    applier = Applier()
    pipeline = Pipeline(2, applier)
    pipeline.put([unit(A, 1), unit(B, 1), unit(A, 2), unit(B, 2)])
    await settled()
    forgetting = asyncio.create_task(pipeline.forget({A}))
    await settled()
    assert not forgetting.done()  # A's running unit finishes (and commits) first
    applier.finish(A, 1)
    await asyncio.wait_for(forgetting, 1)
    applier.finish(B, 1)
    await settled()
    applier.finish(B, 2)
    await pipeline.drain()
    assert applier.applied == [(A, 1), (B, 1), (B, 2)]  # A's queued unit went to its next owner


async def test_stop_drops_the_queue_and_waits_for_the_running_units() -> None:
    applier = Applier()
    pipeline = Pipeline(1, applier)
    pipeline.put([unit(A, 1), unit(B, 1)])
    await settled()
    stopping = asyncio.create_task(pipeline.stop())
    await settled()
    assert not stopping.done()
    applier.finish(A, 1)
    await asyncio.wait_for(stopping, 1)
    assert pipeline.idle and applier.applied == [(A, 1)]


@pytest.mark.parametrize("workers", [1, 2, 4])
async def test_room_for_the_next_poll_once_at_most_workers_units_wait(workers: int) -> None:
    applier = Applier()
    pipeline = Pipeline(workers, applier)
    tps = [TopicPartition("t", p) for p in range(workers * 3)]
    pipeline.put([unit(tp, 1) for tp in tps])
    await settled()
    room = asyncio.create_task(pipeline.wait_for_room())
    await settled()
    assert not room.done() and pipeline.queued == workers * 2
    for tp in tps[:workers]:
        applier.finish(tp, 1)
    await asyncio.wait_for(room, 1)
    assert pipeline.queued == workers
    for tp in tps[workers:]:
        await settled()
        applier.finish(tp, 1)
    await pipeline.drain()
    assert len(applier.applied) == workers * 3
