"""The sink's pipeline of units: connections never wait for each other, partitions stay in
order, a failure halts and keeps the failed unit first. Units are applied by a fake that
finishes each one when the test says so."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from batchpipe_sink.messages import Malformed, Message, Position
from batchpipe_sink.pipeline import Pipeline
from batchpipe_sink.polling import Poll, Unit, units

A = TopicPartition("bank", 0)
B = TopicPartition("bank", 1)
C = TopicPartition("bank", 2)


def unit(tp: TopicPartition, next_offset: int, *more: TopicPartition) -> Unit:
    return Unit(offsets={t: next_offset for t in (tp, *more)}, messages=[], size=1)


class Applier:
    """Records which units started and holds each until ``finish`` (or ``fail``)."""

    def __init__(self) -> None:
        self.started: list[tuple[TopicPartition, int]] = []
        self.applied: list[tuple[TopicPartition, int]] = []
        self._gates: dict[tuple[TopicPartition, int], asyncio.Future[None]] = {}

    async def __call__(self, u: Unit) -> None:
        tp, offset = next(iter(u.offsets.items()))  # a unit is named by its first partition
        key = (tp, offset)
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


async def test_revoked_partitions_are_applied_before_they_move() -> None:
    applier = Applier()
    pipeline = Pipeline(2, applier)
    pipeline.put([unit(A, 1), unit(B, 1), unit(A, 2), unit(B, 2)])
    await settled()
    finishing = asyncio.create_task(pipeline.finish({A}))
    applier.finish(A, 1)
    await settled()
    assert not finishing.done()  # A's queued unit is applied too, never dropped
    applier.finish(A, 2)
    await asyncio.wait_for(finishing, 1)
    applier.finish(B, 1)
    await settled()
    applier.finish(B, 2)
    await pipeline.drain()
    assert sorted(applier.applied) == [(A, 1), (A, 2), (B, 1), (B, 2)]


async def test_a_halted_pipeline_keeps_revoked_units_for_the_retry() -> None:
    applier = Applier()
    pipeline = Pipeline(1, applier)
    pipeline.put([unit(A, 1), unit(A, 2)])
    await settled()
    applier.fail(A, 1)
    await settled()
    await asyncio.wait_for(pipeline.finish({A}), 1)  # halted, nothing runs: does not wait
    assert pipeline.queued == 2  # both kept
    pipeline.resume()
    await settled()
    applier.finish(A, 1)
    await settled()
    applier.finish(A, 2)
    await pipeline.drain()
    assert applier.applied == [(A, 1), (A, 2)]


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
async def test_room_for_the_next_poll_once_nothing_waits_and_a_connection_is_free(
    workers: int,
) -> None:
    applier = Applier()
    pipeline = Pipeline(workers, applier)
    tps = [TopicPartition("t", p) for p in range(workers * 2)]
    pipeline.put([unit(tp, 1) for tp in tps])
    await settled()
    room = asyncio.create_task(pipeline.wait_for_room())
    for tp in tps[:workers]:  # the waiting units start: nothing waits, all connections busy
        await settled()
        assert not room.done()
        applier.finish(tp, 1)
    await settled()
    assert not room.done() and pipeline.queued == 0
    applier.finish(tps[workers], 1)  # a connection is free
    await asyncio.wait_for(room, 1)
    for tp in tps[workers + 1 :]:
        applier.finish(tp, 1)
    await pipeline.drain()
    assert len(applier.applied) == workers * 2


async def test_a_unit_of_several_partitions_keeps_each_partition_in_order() -> None:
    applier = Applier()
    pipeline = Pipeline(2, applier)
    pipeline.put([unit(B, 1)])
    pipeline.put([unit(A, 2, B), unit(A, 3), unit(C, 4)])  # the shared unit waits for B
    await settled()
    assert applier.running() == {(B, 1), (C, 4)}  # not A's second unit before its first
    applier.finish(B, 1)
    await settled()
    assert applier.running() == {(A, 2), (C, 4)}
    applier.finish(A, 2)
    applier.finish(C, 4)
    await settled()
    applier.finish(A, 3)
    await pipeline.drain()
    assert applier.applied.index((A, 2)) < applier.applied.index((A, 3))


def _message(tp: TopicPartition) -> Malformed:
    return Malformed(Position(tp.topic, tp.partition, 0), "test")


def test_small_partitions_share_a_unit_and_big_ones_have_their_own() -> None:
    poll = Poll()
    sizes = {A: [600, 600], B: [100], C: [200, 50]}  # bytes of each record, per partition
    messages: list[Message] = []
    offset = 0
    for tp, lengths in sizes.items():
        for length in lengths:
            poll.records.append(_record(tp, offset, length))
            messages.append(_message(tp))
            poll.first.setdefault(tp, offset)
            poll.offsets[tp] = offset + 1
            offset += 1
    cut = units(poll, messages, min_bytes=1000)
    assert [(u.offsets, u.size, len(u.messages)) for u in cut] == [
        ({A: 2}, 1200, 2),
        ({B: 3, C: 5}, 350, 3),
    ]
    only_c = cut[1].without({B})
    assert only_c is not None and only_c.offsets == {C: 5}
    assert [m.position.partition for m in only_c.messages] == [C.partition] * 2
    assert cut[1].without({B, C}) is None
    assert len(units(poll, messages, min_bytes=0)) == 3  # one per partition
    assert len(units(poll, messages, min_bytes=10**9)) == 1  # the whole poll


def _record(tp: TopicPartition, offset: int, length: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"x" * length,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=length,
        headers=(),
    )
