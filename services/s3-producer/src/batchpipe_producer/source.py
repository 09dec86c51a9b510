"""The S3 object as a blocking binary stream for the parsing thread, decompressed if gzip.

``ObjectStream`` reads the aiobotocore body on the event loop, in a task that stays up to
``READ_AHEAD`` reads ahead of the parser, so the parsing thread sees an ordinary file object,
rarely waits for the (busy) loop, and never holds more than ``READ_AHEAD`` reads of the object
in memory. It hashes what it reads, so the run can check the content against the SHA-256 the
batch id was derived from.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from batchpipe_producer import metrics
from batchpipe_producer.chunks import Progress
from batchpipe_producer.errors import RunCancelled, UnreadableSource

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1024 * 1024
READ_AHEAD = 8
"""Reads of the body (each at most ``READ_SIZE``) buffered ahead of the parser."""


class ObjectStream(io.RawIOBase):
    def __init__(
        self,
        body: Any,
        loop: asyncio.AbstractEventLoop,
        progress: Progress,
        cancel: threading.Event,
        dataset: str,
    ) -> None:
        super().__init__()
        self._body = body
        self._loop = loop
        self._progress = progress
        self._cancel = cancel
        self._metric = metrics.BYTES_READ.labels(dataset=dataset)
        self._reads: queue.SimpleQueue[bytes | BaseException] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(READ_AHEAD)
        self._task: asyncio.Task[None] | None = None
        self._rest = memoryview(b"")
        self._ended = False
        self.sha256 = hashlib.sha256()

    def start(self) -> None:
        """Start reading ahead (on the event loop)."""
        self._task = asyncio.create_task(self._read_ahead())

    async def stop(self) -> None:
        """Stop reading ahead (on the event loop) and close the body."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._body.close()

    async def _read_ahead(self) -> None:
        try:
            while True:
                await self._room.acquire()
                data: bytes = await self._body.read(READ_SIZE)
                self._reads.put(data)
                if not data:
                    return
        except BaseException as exc:
            self._reads.put(exc)
            raise

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._cancel.is_set():
            raise RunCancelled("the service is shutting down")
        if not self._rest:
            if self._ended:
                return 0
            item = self._reads.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            self._loop.call_soon_threadsafe(self._room.release)
            if not item:
                self._ended = True
                return 0
            self.sha256.update(item)
            self._progress.bytes_read += len(item)
            self._metric.inc(len(item))
            self._rest = memoryview(item)
        view = memoryview(buffer)
        size = min(len(view), len(self._rest))
        view[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size

    def drain(self) -> None:
        """Read (and hash) whatever the parser left unread."""
        while self.readinto(bytearray(READ_SIZE)):
            pass


class _GzipErrors(io.RawIOBase):
    """Turns the errors of a broken gzip stream into ``UnreadableSource``."""

    def __init__(self, inner: gzip.GzipFile) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._inner.readinto(buffer)
        except EOFError:
            raise UnreadableSource(
                "truncated gzip: the stream ends before its end-of-stream marker"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise UnreadableSource(f"corrupt gzip: {exc}") from None


@contextmanager
def decompressed(raw: ObjectStream, key: str) -> Iterator[BinaryIO]:
    """The object's content: gunzipped when the key ends in ``.gz`` or it starts with gzip magic."""
    buffered = io.BufferedReader(raw, buffer_size=READ_SIZE)
    if key.endswith(".gz") or buffered.peek(2)[:2] == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=buffered, mode="rb") as gz:
            yield io.BufferedReader(_GzipErrors(gz), buffer_size=READ_SIZE)
    else:
        yield buffered
