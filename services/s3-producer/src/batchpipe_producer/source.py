"""The S3 object as a blocking binary stream for the parsing thread, decompressed if gzip.

``ObjectStream`` reads the aiobotocore body on the event loop (``run_coroutine_threadsafe``),
so the parsing thread sees an ordinary file object and never holds more than one read of the
object in memory. It hashes what it reads, so the run can check the content against the
SHA-256 the batch id was derived from.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
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
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._cancel.is_set():
            raise RunCancelled("the service is shutting down")
        view = memoryview(buffer)
        future = asyncio.run_coroutine_threadsafe(self._body.read(len(view)), self._loop)
        data: bytes = future.result()
        size = len(data)
        view[:size] = data
        self.sha256.update(data)
        self._progress.bytes_read += size
        self._metric.inc(size)
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
