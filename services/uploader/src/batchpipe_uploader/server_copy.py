"""Copying an object server-side with new metadata: a staged stream to its content-addressed
key (``multipart.upload_stream``)."""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batchpipe_uploader.leftovers import Leftover, Leftovers, leave

COPY_PART_SIZE = 512 * 1024 * 1024
SINGLE_COPY_LIMIT = 5 * 1024**3


async def server_side_copy(
    s3: Any,
    bucket: str,
    source: str,
    target: str,
    size: int,
    metadata: dict[str, str],
    leftovers: Leftovers | None,
) -> str:
    """Server-side copy with new metadata: one call up to 5 GiB, a multipart copy beyond."""
    if size <= SINGLE_COPY_LIMIT:
        answer = await s3.copy_object(
            Bucket=bucket,
            Key=target,
            CopySource={"Bucket": bucket, "Key": source},
            Metadata=metadata,
            MetadataDirective="REPLACE",
        )
        return str(answer["CopyObjectResult"]["ETag"]).strip('"')
    created = await s3.create_multipart_upload(Bucket=bucket, Key=target, Metadata=metadata)
    upload_id = created["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, COPY_PART_SIZE), start=1):
            end = min(start + COPY_PART_SIZE, size) - 1
            answer = await s3.upload_part_copy(
                Bucket=bucket,
                Key=target,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": bucket, "Key": source},
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
        done = await s3.complete_multipart_upload(
            Bucket=bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        try:
            await asyncio.shield(
                s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload_id)
            )
        except (ClientError, BotoCoreError):
            leave(leftovers, Leftover(bucket, target, upload_id))
        raise
    return str(done["ETag"]).strip('"')
