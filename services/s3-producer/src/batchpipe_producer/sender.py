"""Sending wire messages with aiokafka under a bound on what is in flight.

The parsing thread hands messages to ``ThreadOutbox.submit``, which returns at once unless
``HANDOFF_WINDOW`` submissions are still waiting for the event loop: the loop sends them in
order (each ``send_many`` waits for the one before), so the parser keeps parsing while the loop
compresses and sends. ``KafkaSender`` waits for a free slot before each send: with at most
``max_in_flight`` unacknowledged messages (each under the chunk byte cap), plus the handoff
window, memory stays bounded whatever the size of the object. Dead letters are many and small:
a submission of them (up to 256, one topic) goes out as record batches to one partition
(``send_batch``), not one accumulator entry and one key hash per letter, which cost ~30 us of
the event loop each. A letter's partition carries no meaning: the sink keys rejects by
(batch, source row), whatever partition they come from. The last offset written to each
partition is recorded from the send results for the manifest.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from batchpipe_producer.chunks import MessageKind, OutMessage

HANDOFF_WINDOW = 4
"""Submissions (a chunk, or up to 256 dead letters) the parser may be ahead of the loop."""
DEAD_LETTER_BATCHES_IN_FLIGHT = 16
"""Unacknowledged record batches of dead letters at most (each holds at most one submission's
letters of one partition), apart from the chunks' ``max_in_flight``."""


class SendFailed(Exception):
    """Kafka refused or timed out a message of the run."""


class KafkaSender:
    def __init__(self, producer: AIOKafkaProducer, max_in_flight: int) -> None:
        self._producer = producer
        self._slots: dict[MessageKind, asyncio.Semaphore] = {
            "chunk": asyncio.Semaphore(max_in_flight),
            "dead_letter": asyncio.Semaphore(DEAD_LETTER_BATCHES_IN_FLIGHT),
        }
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._pending: set[asyncio.Future[RecordMetadata]] = set()
        self.error: BaseException | None = None
        self.last_offsets: dict[MessageKind, dict[int, int]] = {"chunk": {}, "dead_letter": {}}

    async def send_many(self, messages: list[OutMessage]) -> None:
        letters = [m for m in messages if m.kind == "dead_letter"]
        for message in messages:
            if message.kind == "chunk":
                await self._send(message)
        if letters:
            await self._send_letters(letters)

    def _check(self) -> None:
        if self.error is not None:
            raise SendFailed(f"sending to Kafka failed: {self.error}") from self.error

    async def _send(self, message: OutMessage) -> None:
        self._check()
        slots = self._slots[message.kind]
        await slots.acquire()
        try:
            future = await self._producer.send(
                message.topic, message.value, key=message.key, headers=message.headers
            )
        except BaseException:
            slots.release()
            raise
        self._track(message.kind, future, 1)

    async def _send_letters(self, letters: list[OutMessage]) -> None:
        """The submission's letters in record batches to one partition, the one ``send`` would
        pick for the first letter's key; a full batch is sent and a new one begun."""
        first = letters[0]
        where = (first.topic, await self._partition(first.topic, first.key))
        batch = self._producer.create_batch()
        for letter in letters:
            if not self._append(batch, letter):
                await self._send_batch(where, batch)
                batch = self._producer.create_batch()
                self._append(batch, letter)  # an empty batch takes any one record
        await self._send_batch(where, batch)

    @staticmethod
    def _append(batch: BatchBuilder, message: OutMessage) -> bool:
        headers = list(message.headers or [])
        appended = batch.append(
            key=message.key, value=message.value, timestamp=None, headers=headers
        )
        return appended is not None

    async def _partition(self, topic: str, key: bytes) -> int:
        """The partition ``send`` picks for ``key`` (the default, murmur2-keyed partitioner)."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(
                await self._producer.partitions_for(topic)
            )
        return int(self._partitioner(key, partitions, partitions))

    async def _send_batch(self, where: tuple[str, int], batch: BatchBuilder) -> None:
        self._check()
        slots = self._slots["dead_letter"]
        await slots.acquire()
        try:
            batch.close()
            future = await self._producer.send_batch(batch, where[0], partition=where[1])
        except BaseException:
            slots.release()
            raise
        self._track("dead_letter", future, batch.record_count())

    def _track(self, kind: MessageKind, future: asyncio.Future[RecordMetadata], count: int) -> None:
        self._pending.add(future)
        future.add_done_callback(lambda f: self._done(kind, f, count))

    def _done(self, kind: MessageKind, future: asyncio.Future[RecordMetadata], count: int) -> None:
        self._pending.discard(future)
        self._slots[kind].release()
        if future.cancelled():
            self.error = self.error or asyncio.CancelledError("send cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self.error = self.error or exc
            return
        meta = future.result()  # a record batch's: the offset of its first record
        last = meta.offset + count - 1
        offsets = self.last_offsets[kind]
        if last > offsets.get(meta.partition, -1):
            offsets[meta.partition] = last

    async def drain(self) -> None:
        """Wait until every message sent is acknowledged; raise if one failed."""
        if self._pending:
            await asyncio.wait(list(self._pending))
        if self.error is not None:
            raise SendFailed(f"sending to Kafka failed: {self.error}") from self.error


class ThreadOutbox:
    """The ``Outbox`` the parsing thread sees: hands messages over to the loop, in order.

    ``submit`` blocks only while ``window`` earlier submissions are not yet handed to
    aiokafka; it raises the first send failure. ``handed_over`` (on the loop) waits for the
    last submission, after which ``KafkaSender.drain`` covers every message.
    """

    def __init__(
        self, sender: KafkaSender, loop: asyncio.AbstractEventLoop, window: int = HANDOFF_WINDOW
    ) -> None:
        self._sender = sender
        self._loop = loop
        self._room = threading.Semaphore(window)
        self._last: Future[None] | None = None

    def submit(self, messages: list[OutMessage]) -> None:
        self._room.acquire()
        last = self._last
        if last is not None and last.done() and last.exception() is not None:
            self._room.release()
            last.result()
        future = asyncio.run_coroutine_threadsafe(self._send_after(last, messages), self._loop)
        future.add_done_callback(lambda _: self._room.release())
        self._last = future

    async def _send_after(self, previous: Future[None] | None, messages: list[OutMessage]) -> None:
        if previous is not None:
            await asyncio.wrap_future(previous)
        await self._sender.send_many(messages)

    async def handed_over(self) -> None:
        """Wait until every submission reached the sender; raise the first failure."""
        if self._last is not None:
            await asyncio.wrap_future(self._last)
