"""Polls of the sink's consumer: bounded, decoded, fetched one ahead, split for parallel COPY.

``Poller.next()`` returns the next poll: at most ``max_records`` messages and ``max_bytes``
bytes (records past the cap are rewound with ``seek`` and come with the following poll),
decoded. ``prefetch()`` starts fetching (and decompressing, and decoding) the following poll
while the current one is applied, so that Kafka work overlaps PostgreSQL's COPY instead of
waiting for it. A prefetched poll that will not be applied now (the current one is held, the
consumer pauses or stops) is rewound (``seek`` back to its first offsets), never dropped:
a consumer's position must never move past records that were not applied.

``split`` cuts a poll into per-connection groups by topic partition, so that each partition's
records stay in order in one transaction and a chunk and its redeliveries (same key, same
partition) never meet in two concurrent transactions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from batchpipe_sink.messages import Message, TopicMap, decode

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass
class Poll:
    """Polled records not yet applied, decoded, with the offsets to commit once they are."""

    records: list[Record] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    """next offset to consume per partition (last record's offset + 1)"""
    first: dict[TopicPartition, int] = field(default_factory=dict)
    """first offset per partition, where a rewind seeks to"""


class Poller:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: TopicMap,
        *,
        timeout_ms: int,
        max_records: int,
        max_bytes: int,
    ) -> None:
        self._consumer = consumer
        self._topics = topics
        self._timeout_ms = timeout_ms
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._ahead: asyncio.Task[Poll | None] | None = None

    def use(self, topics: TopicMap) -> None:
        """Decode the next polls with ``topics`` (rewind any prefetch first)."""
        assert self._ahead is None, "rewind the prefetch before changing the topic map"
        self._topics = topics

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
        poll.messages = [decode(r, self._topics) for r in poll.records]
        return poll


def split(poll: Poll, groups: int) -> list[list[Message]]:
    """The poll's messages in at most ``groups`` lists of about equal bytes, each partition
    whole in one list (largest partitions first, each to the lightest list)."""
    sizes: dict[tuple[str, int], int] = {}
    for record in poll.records:
        key = (record.topic, record.partition)
        sizes[key] = sizes.get(key, 0) + len(record.value or b"")
    if groups <= 1 or len(sizes) <= 1:
        return [poll.messages]
    loads = [0] * min(groups, len(sizes))
    slot: dict[tuple[str, int], int] = {}
    for key, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = loads.index(min(loads))
        slot[key] = lightest
        loads[lightest] += size
    out: list[list[Message]] = [[] for _ in loads]
    for record, message in zip(poll.records, poll.messages, strict=True):
        out[slot[(record.topic, record.partition)]].append(message)
    return out
