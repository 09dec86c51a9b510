"""Polls of the sink's consumer: bounded, fetched one ahead, cut into per-partition units.

``Poller.next()`` returns the next poll: at most ``max_records`` messages and ``max_bytes``
bytes (records past the cap are rewound with ``seek`` and come with the following poll).
``prefetch()`` starts fetching (and decompressing) the following poll
while the current one is applied, so that Kafka work overlaps PostgreSQL's COPY instead of
waiting for it. A prefetched poll that will not be applied now (the current one is held, the
consumer pauses or stops) is rewound (``seek`` back to its first offsets), never dropped:
a consumer's position must never move past records that were not applied.

``units`` cuts a poll into ``Unit``s, each applied in one transaction (``pipeline.Pipeline``): a
partition with enough bytes in the poll is a unit of its own (a backlog is applied by several
connections at once), the poll's small partitions share one (a sink that keeps up with the
producer spends one transaction per poll, not one per partition); each unit carries the offsets
to commit once it has been applied.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from batchpipe_sink.messages import Message

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass
class Poll:
    """Polled records not yet applied, with the offsets to commit once they are."""

    records: list[Record] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    """next offset to consume per partition (last record's offset + 1)"""
    first: dict[TopicPartition, int] = field(default_factory=dict)
    """first offset per partition, where a rewind seeks to"""


class Poller:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        *,
        timeout_ms: int,
        max_records: int,
        max_bytes: int,
    ) -> None:
        self._consumer = consumer
        self._timeout_ms = timeout_ms
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._ahead: asyncio.Task[Poll | None] | None = None

    async def next(self) -> Poll | None:
        """The prefetched poll if there is one, else a fresh poll (None: nothing came)."""
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            return await ahead
        return await self._poll()

    def prefetch(self) -> None:
        """Start fetching the following poll (no-op when one is already on its way)."""
        if self._ahead is None:
            self._ahead = asyncio.create_task(self._poll(), name="pg-sink-prefetch")

    async def rewind_prefetch(self) -> None:
        """Seek back over a prefetched poll, so that its records come again later."""
        if self._ahead is None:
            return
        ahead, self._ahead = self._ahead, None
        try:
            poll = await ahead
        except Exception:  # the fetch failed: nothing was taken
            return
        if poll is not None:
            self.rewind(poll)

    def rewind(self, poll: Poll) -> None:
        assigned = self._consumer.assignment()
        for tp, offset in poll.first.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)

    async def _poll(self) -> Poll | None:
        polled = await self._consumer.getmany(
            timeout_ms=self._timeout_ms, max_records=self._max_records
        )
        if not polled:
            return None
        poll = Poll()
        size = 0
        full = False
        for tp, records in polled.items():
            for record in records:
                length = len(record.value or b"")
                if not full and poll.records and size + length > self._max_bytes:
                    full = True
                if full:
                    self._consumer.seek(tp, record.offset)
                    break
                poll.records.append(record)
                poll.first.setdefault(tp, record.offset)
                poll.offsets[tp] = record.offset + 1
                size += length
        return poll


@dataclass(eq=False)
class Unit:
    """Messages of one poll that one transaction applies: one partition's, or those of the
    poll's small partitions together."""

    offsets: dict[TopicPartition, int]
    """per partition, the offset to commit once the unit has been applied"""
    messages: list[Message]
    size: int
    """message bytes"""

    @property
    def tps(self) -> set[TopicPartition]:
        return set(self.offsets)

    def without(self, tps: set[TopicPartition]) -> Unit | None:
        """This unit without the messages of ``tps`` (None when nothing is left)."""
        if not tps & self.offsets.keys():
            return self
        kept = {tp: off for tp, off in self.offsets.items() if tp not in tps}
        if not kept:
            return None
        messages = [m for m in self.messages if _tp(m) in kept]
        return Unit(kept, messages, self.size)


def _tp(message: Message) -> TopicPartition:
    return TopicPartition(message.position.topic, message.position.partition)


def units(poll: Poll, messages: list[Message], min_bytes: int) -> list[Unit]:
    """The poll's ``messages`` (decoded from its records, in order) as units, largest first: a
    partition with at least ``min_bytes`` in the poll is a unit of its own; the others share
    one (a poll of small partitions is one transaction, not one per partition)."""
    sizes: dict[TopicPartition, int] = {}
    for record in poll.records:
        tp = TopicPartition(record.topic, record.partition)
        sizes[tp] = sizes.get(tp, 0) + len(record.value or b"")
    own = {tp for tp, size in sizes.items() if size >= min_bytes}
    shared = TopicPartition("", -1)  # the key of the small partitions' unit
    out: dict[TopicPartition, Unit] = {}
    for record, message in zip(poll.records, messages, strict=True):
        tp = TopicPartition(record.topic, record.partition)
        key = tp if tp in own else shared
        unit = out.get(key)
        if unit is None:
            unit = out[key] = Unit({}, [], 0)
        unit.offsets[tp] = poll.offsets[tp]
        unit.messages.append(message)
        unit.size += len(record.value or b"")
    return sorted(out.values(), key=lambda u: -u.size)
