"""Sending wire messages with aiokafka under a bound on what is in flight.

The parsing thread hands messages to ``ThreadOutbox.submit``, which returns at once unless
``HANDOFF_WINDOW`` submissions are still waiting for the event loop: the loop sends them in
order (each ``send_many`` waits for the one before), so the parser keeps parsing while the loop
compresses and sends. ``KafkaSender`` waits for a free slot before each send: with at most
``max_in_flight`` unacknowledged messages (each under the chunk byte cap), plus the handoff
window, memory stays bounded whatever the size of the object. The last offset written to each
partition is recorded from the send results for the manifest.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from batchpipe_producer.chunks import MessageKind, OutMessage

HANDOFF_WINDOW = 4
"""Submissions (a chunk, or up to 256 dead letters) the parser may be ahead of the loop."""
DEAD_LETTERS_IN_FLIGHT = 1024
"""Unacknowledged dead letters at most: a slot each, apart from the chunks' ``max_in_flight``
(a dead letter is small: its raw line is cut at 4 KiB), so that a file with many bad rows is
not held to ``max_in_flight`` small messages per broker round trip."""


class SendFailed(Exception):
    """Kafka refused or timed out a message of the run."""


class KafkaSender:
    def __init__(self, producer: AIOKafkaProducer, max_in_flight: int) -> None:
        self._producer = producer
        self._slots: dict[MessageKind, asyncio.Semaphore] = {
            "chunk": asyncio.Semaphore(max_in_flight),
            "dead_letter": asyncio.Semaphore(DEAD_LETTERS_IN_FLIGHT),
        }
        self._pending: set[asyncio.Future[RecordMetadata]] = set()
        self.error: BaseException | None = None
        self.last_offsets: dict[MessageKind, dict[int, int]] = {"chunk": {}, "dead_letter": {}}

    async def send_many(self, messages: list[OutMessage]) -> None:
        for message in messages:
            if self.error is not None:
                raise SendFailed(f"sending to Kafka failed: {self.error}") from self.error
            slots = self._slots[message.kind]
            await slots.acquire()
            try:
                future = await self._producer.send(
                    message.topic, message.value, key=message.key, headers=message.headers
                )
            except BaseException:
                slots.release()
                raise
            self._pending.add(future)
            future.add_done_callback(lambda f, kind=message.kind: self._done(kind, f))

    def _done(self, kind: MessageKind, future: asyncio.Future[RecordMetadata]) -> None:
        self._pending.discard(future)
        self._slots[kind].release()
        if future.cancelled():
            self.error = self.error or asyncio.CancelledError("send cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self.error = self.error or exc
            return
        meta = future.result()
        offsets = self.last_offsets[kind]
        if meta.offset > offsets.get(meta.partition, -1):
            offsets[meta.partition] = meta.offset

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
