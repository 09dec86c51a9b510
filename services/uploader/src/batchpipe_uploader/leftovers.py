"""What an upload could not clean up because S3 was unreachable, cleaned once S3 answers.

An upload that fails aborts its multipart upload (and deletes its staging object, if it had
one) at once. When the failure is S3 itself going away, those calls fail too, and an S3 server
that keeps its state (SeaweedFS, AWS) would keep the parts and the staging object for ever. The
uploader service keeps them here and retries until S3 answers again (``keep_cleaning``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from batchpipe_uploader import metrics

log = structlog.get_logger(__name__)

GONE = {"NoSuchUpload", "NoSuchKey", "NoSuchBucket", "404"}
"""Error codes meaning that there is nothing left to clean."""


@dataclass(frozen=True)
class Leftover:
    """One multipart upload to abort (``upload_id`` set), or a key whose multipart uploads are
    all to go (S3 may have created an upload whose id the uploader never heard of when it died
    answering), with its object too when ``with_object`` (a staging key, unique to one upload;
    never a content-addressed key, whose object may be another upload's, stored whole)."""

    bucket: str
    key: str
    upload_id: str | None = None
    with_object: bool = True


def leave(leftovers: Leftovers | None, leftover: Leftover) -> None:
    """Hand ``leftover`` to ``leftovers`` to clean (the CLI has none: only logged)."""
    if leftovers is not None:
        leftovers.add(leftover)
    else:
        log.warning("left behind: S3 unreachable", key=leftover.key, upload_id=leftover.upload_id)


class Leftovers:
    def __init__(self) -> None:
        self._pending: set[Leftover] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, leftover: Leftover) -> None:
        log.warning(
            "left behind until S3 answers",
            bucket=leftover.bucket,
            key=leftover.key,
            upload_id=leftover.upload_id,
        )
        self._pending.add(leftover)
        metrics.LEFTOVERS.set(len(self._pending))

    async def clean(self, s3: Any) -> None:
        """One pass: clean what can be cleaned; stops at the first sign S3 is still away."""
        for item in list(self._pending):
            try:
                await _clean(s3, item)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in GONE:
                    log.warning("cleaning failed", key=item.key, error=str(exc))
                    continue
            except BotoCoreError:
                return
            log.info("cleaned", bucket=item.bucket, key=item.key, upload_id=item.upload_id)
            self._pending.discard(item)
            metrics.LEFTOVERS.set(len(self._pending))

    async def keep_cleaning(self, s3: Any, interval: float = 1.0) -> None:
        """Run for the service's lifetime: a pass every ``interval`` while anything is left."""
        while True:
            if self._pending:
                await self.clean(s3)
            await asyncio.sleep(interval)


async def _clean(s3: Any, item: Leftover) -> None:
    if item.upload_id is not None:
        await _abort(s3, item.bucket, item.key, item.upload_id)
        return
    listing = await s3.list_multipart_uploads(Bucket=item.bucket, Prefix=item.key)
    for upload in listing.get("Uploads") or []:
        if upload["Key"] == item.key:
            await _abort(s3, item.bucket, item.key, upload["UploadId"])
    if item.with_object:
        await s3.delete_object(Bucket=item.bucket, Key=item.key)


async def _abort(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in GONE:
            raise
