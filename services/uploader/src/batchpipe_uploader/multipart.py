"""Streaming, checksummed, deduplicated uploads to S3 (used by the service and the CLI).

Objects are stored under ``<dataset>/sha256=<hex>/<file name>`` with the hash, the original
file name and the dataset as object metadata. The same content is stored once: before writing
the final key, the prefix ``<dataset>/sha256=<hex>/`` is listed and an existing object is
returned with ``deduplicated=True``.

A local file (``upload_file``) is hashed first and then sent straight to its final key, or
not at all when its content is stored already. A stream (``upload_stream``: an HTTP request
body, which can be read only once) goes to a staging key while it is hashed, then is copied
server-side to its final key (or dropped when it is a duplicate). Part N is sent while part
N+1 is read and hashed, so memory is bounded by two parts (``part_size``). On any failure the
multipart upload is aborted and the staging object deleted, so no orphaned parts remain; what
S3 was not there to take is handed to ``Leftovers`` to be cleaned when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import anyio
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from batchpipe_uploader.leftovers import Leftover, Leftovers, leave
from batchpipe_uploader.server_copy import server_side_copy

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
READ_SIZE = 1024 * 1024
PARTS_IN_FLIGHT = 1
"""Parts sent at once while the next is read and hashed: memory is this plus one part."""
STAGING_PREFIX = "_staging/"

log = structlog.get_logger(__name__)

Progress = Callable[[int], None]
"""Called with the number of bytes just read (to drive a progress bar)."""


class UploadError(Exception):
    """An upload that could not be done; ``unavailable`` when S3 could not be reached."""

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


def _storage_error(exc: Exception) -> UploadError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"S3 refused the request: {error.get('Code')}: {error.get('Message')}"
        return UploadError(message, unavailable=status >= 500 or error.get("Code") == "SlowDown")
    return UploadError(f"S3 unavailable: {exc}", unavailable=True)


@dataclass(frozen=True)
class StoredObject:
    dataset: str
    bucket: str
    key: str
    sha256: str
    size: int
    etag: str
    deduplicated: bool

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_file_name(name: str) -> str:
    """The last path component of ``name`` with anything unusual replaced by ``_``."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base)[:200]
    if cleaned in ("", ".", ".."):
        raise UploadError(f"not a usable file name: {name!r}")
    return cleaned


def content_prefix(dataset: str, sha256: str) -> str:
    return f"{dataset}/sha256={sha256}/"


def object_key(dataset: str, sha256: str, file_name: str) -> str:
    return content_prefix(dataset, sha256) + safe_file_name(file_name)


def object_metadata(dataset: str, sha256: str, file_name: str) -> dict[str, str]:
    # S3 metadata values must be ASCII: the original name is percent-encoded
    return {"sha256": sha256, "original-name": quote(file_name, safe=""), "dataset": dataset}


async def find_existing(s3: Any, bucket: str, dataset: str, sha256: str) -> StoredObject | None:
    """An object already stored with this content, if any."""
    listing = await s3.list_objects_v2(
        Bucket=bucket, Prefix=content_prefix(dataset, sha256), MaxKeys=1
    )
    contents = listing.get("Contents") or []
    if not contents:
        return None
    found = contents[0]
    return StoredObject(
        dataset=dataset,
        bucket=bucket,
        key=found["Key"],
        sha256=sha256,
        size=int(found["Size"]),
        etag=str(found["ETag"]).strip('"'),
        deduplicated=True,
    )


class MultipartWriter:
    """Writes one object part by part; a small object becomes a single ``put_object``.

    Full parts are sent in the background while the caller goes on writing (and hashing) the
    next one; at most ``PARTS_IN_FLIGHT`` parts are in flight.
    """

    def __init__(
        self, s3: Any, bucket: str, key: str, part_size: int, metadata: dict[str, str]
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise UploadError(f"part size must be at least {MIN_PART_SIZE} bytes")
        self.s3, self.bucket, self.key = s3, bucket, key
        self.part_size = part_size
        self.metadata = metadata
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.buffer = bytearray()
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._sending: list[asyncio.Task[None]] = []
        self._next_part = 1

    async def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        self.buffer += data
        while len(self.buffer) >= self.part_size:
            part = bytes(self.buffer[: self.part_size])
            del self.buffer[: self.part_size]
            await self._send(part)

    async def _send(self, data: bytes) -> None:
        """Start sending ``data`` as the next part once fewer than the limit are in flight."""
        await self._sent(keep=PARTS_IN_FLIGHT - 1)
        if self.upload_id is None:
            created = await self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, Metadata=self.metadata
            )
            self.upload_id = created["UploadId"]
        if self._next_part > MAX_PARTS:
            raise UploadError(f"more than {MAX_PARTS} parts: raise the part size")
        number, self._next_part = self._next_part, self._next_part + 1
        self._sending.append(asyncio.create_task(self._upload_part(self.upload_id, number, data)))

    async def _upload_part(self, upload_id: str, number: int, data: bytes) -> None:
        answer = await self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def _sent(self, keep: int = 0) -> None:
        """Wait until at most ``keep`` parts are in flight (a failure is raised here)."""
        while len(self._sending) > keep:
            await self._sending.pop(0)

    async def complete(self) -> str:
        """Finish the object; returns its ETag."""
        if self.upload_id is None:
            answer = await self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), Metadata=self.metadata
            )
            return str(answer["ETag"]).strip('"')
        if self.buffer:
            await self._send(bytes(self.buffer))
            self.buffer.clear()
        await self._sent()
        answer = await self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": sorted(self.parts, key=lambda part: part["PartNumber"])},
        )
        return str(answer["ETag"]).strip('"')

    async def abort(self) -> None:
        for sending in self._sending:
            sending.cancel()
        for sending in self._sending:
            with contextlib.suppress(BaseException):
                await sending
        self._sending.clear()
        if self.upload_id is not None:
            await self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            self.upload_id = None


async def _write_all(
    writer: MultipartWriter,
    chunks: AsyncIterator[bytes],
    progress: Progress | None,
    leftovers: Leftovers | None,
    *,
    final_sha256: str | None = None,
) -> str:
    """Stream ``chunks`` into ``writer``; aborts the multipart upload on any failure.

    ``final_sha256`` is set when the writer writes the content-addressed key itself: the
    content must hash to it, or nothing is stored; and what an outage leaves behind there is
    only the multipart upload, never the key's object (another upload's, stored whole)."""
    try:
        async for chunk in chunks:
            if chunk:
                await writer.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        if final_sha256 is not None and writer.sha256.hexdigest() != final_sha256:
            raise UploadError("the file changed between its hashing and its upload; try again")
        return await writer.complete()
    except BaseException:
        try:
            await asyncio.shield(writer.abort())
        except (ClientError, BotoCoreError):
            if final_sha256 is None:
                leave(leftovers, Leftover(writer.bucket, writer.key))
            else:
                leftover = Leftover(writer.bucket, writer.key, writer.upload_id, with_object=False)
                leave(leftovers, leftover)
        raise


async def _discard(s3: Any, bucket: str, key: str, leftovers: Leftovers | None) -> None:
    """Delete the staging object (a no-op when it was never completed)."""
    try:
        await asyncio.shield(s3.delete_object(Bucket=bucket, Key=key))
    except (ClientError, BotoCoreError):
        leave(leftovers, Leftover(bucket, key))


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes; fails at the end when the file changed while it was read."""
    before = await anyio.Path(path).stat()
    async with await anyio.open_file(path, "rb") as fh:
        while chunk := await fh.read(READ_SIZE):
            yield chunk
    after = await anyio.Path(path).stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise UploadError(f"{path} changed while it was being uploaded; try again")


async def _sha256_of(path: Path, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    async for chunk in _file_chunks(path):
        digest.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return digest.hexdigest()


async def upload_file(
    s3: Any,
    bucket: str,
    dataset: str,
    path: Path,
    *,
    part_size: int,
    file_name: str | None = None,
    progress: Progress | None = None,
    hashed: Progress | None = None,
    leftovers: Leftovers | None = None,
) -> StoredObject:
    """Upload a local file straight to its content-addressed key, or nothing when that content
    is stored already.

    The file is read twice: hashed first (``hashed`` is told the bytes), then sent while hashed
    again (``progress``). A local read is cheap, and from the page cache when the file was just
    written; it spares the upload a staging key and a server-side copy, which S3 servers do by
    reading and writing the whole object again (SeaweedFS also gzips it anew), and a file
    stored already is not sent at all. A file that changed between or during the reads is
    refused and nothing is stored."""
    name = file_name or path.name
    safe_file_name(name)
    sha256 = await _sha256_of(path, hashed)
    try:
        existing = await find_existing(s3, bucket, dataset, sha256)
        if existing is not None:
            return existing
        key = object_key(dataset, sha256, name)
        metadata = object_metadata(dataset, sha256, name)
        writer = MultipartWriter(s3, bucket, key, part_size, metadata)
        etag = await _write_all(
            writer, _file_chunks(path), progress, leftovers, final_sha256=sha256
        )
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error(exc) from exc
    return StoredObject(dataset, bucket, key, sha256, writer.size, etag, deduplicated=False)


async def upload_stream(
    s3: Any,
    bucket: str,
    dataset: str,
    file_name: str,
    chunks: AsyncIterator[bytes],
    *,
    part_size: int,
    progress: Progress | None = None,
    leftovers: Leftovers | None = None,
) -> StoredObject:
    """Upload a stream, which can be read only once (an HTTP request body): to a staging key
    while hashing, then a server-side copy to the content-addressed key, or nothing more when
    that content is stored already."""
    name = safe_file_name(file_name)
    staging = f"{STAGING_PREFIX}{uuid.uuid4().hex}/{name}"
    writer = MultipartWriter(s3, bucket, staging, part_size, {"dataset": dataset})
    try:
        try:
            await _write_all(writer, chunks, progress, leftovers)
            sha256 = writer.sha256.hexdigest()
            existing = await find_existing(s3, bucket, dataset, sha256)
            if existing is not None:
                return existing
            key = object_key(dataset, sha256, file_name)
            metadata = object_metadata(dataset, sha256, file_name)
            etag = await server_side_copy(
                s3, bucket, staging, key, writer.size, metadata, leftovers
            )
        finally:
            await _discard(s3, bucket, staging, leftovers)
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error(exc) from exc
    return StoredObject(dataset, bucket, key, sha256, writer.size, etag, deduplicated=False)
