"""The S3 server goes away in the middle of an upload, and a client walks away from one: a
clear error, no multipart upload or staging object left behind, and a retry stores the file.

SeaweedFS (the local stack's S3 server) keeps objects and unfinished multipart uploads on disk:
what was stored before the outage is still there after it, and so is the multipart upload the
outage interrupted, until the uploader, which could not abort it while S3 was away, aborts it
once S3 answers again (``batchpipe_uploader.leftovers``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchpipe_cli.stack.s3 import S3Server
from batchpipe_common.s3 import parse_s3_uri
from tests.faults.pipeline import DATASET, upload
from tests.faults.stack import StackControl
from tests.sink.conftest import wait_for

PART = 8 * 1024 * 1024  # the uploader's default part size


def multipart_uploads(stack: StackControl) -> list[dict[str, Any]]:
    client: Any = S3Server(stack.config).client()
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=stack.config.bucket).get(
        "Uploads", []
    )
    return uploads


@pytest.fixture
def big_inbox_file(stack: StackControl) -> Iterator[Path]:
    """24 parts of random bytes in the stack's inbox (the uploader does not parse content)."""
    folder = stack.config.inbox_dir / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"s3-down-{os.getpid()}.bin"
    with path.open("wb") as out:
        for _ in range(24):
            out.write(os.urandom(PART))
    yield path
    path.unlink(missing_ok=True)


async def test_s3_down_during_an_upload(stack: StackControl, big_inbox_file: Path) -> None:
    uploader = stack.uploader
    relative = str(big_inbox_file.relative_to(stack.config.inbox_dir))
    body = {"dataset": DATASET, "path": relative}
    assert stack.s3_leftovers() == []

    request = asyncio.create_task(asyncio.to_thread(uploader.post_json, "/v1/uploads", body))
    await asyncio.to_thread(
        wait_for, lambda: bool(multipart_uploads(stack)), 60, "the multipart upload to begin", 0.05
    )
    await asyncio.to_thread(stack.stop_s3)
    failed = await request

    assert failed.status_code in (502, 503), failed.text
    assert "S3" in failed.json()["detail"]
    assert uploader.get("/healthz").status_code == 200, "the uploader survives the outage"
    assert uploader.get("/readyz").status_code == 503, "and says S3 is not reachable"

    await asyncio.to_thread(stack.up)  # S3 back with what it had stored
    await asyncio.to_thread(stack.wait_nothing_left_in_s3)
    retried = await asyncio.to_thread(uploader.post_json, "/v1/uploads", body)
    assert retried.status_code == 200, retried.text
    stored = retried.json()
    assert stored["sha256"] == hashlib.sha256(big_inbox_file.read_bytes()).hexdigest()
    assert stored["size"] == big_inbox_file.stat().st_size
    assert stored["deduplicated"] is False
    assert stack.s3_leftovers() == []


async def test_stored_objects_survive_a_restart_of_s3(stack: StackControl) -> None:
    data = os.urandom(PART + 1024)  # a multipart upload: one full part and a bit
    stored = await asyncio.to_thread(upload, stack.uploader, data, "survivor.bin")
    bucket, key = parse_s3_uri(stored["s3_uri"])

    await asyncio.to_thread(stack.crash, "s3")
    await asyncio.to_thread(stack.up)

    client: Any = S3Server(stack.config).client()
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    again = await asyncio.to_thread(upload, stack.uploader, data, "survivor-again.bin")
    assert (again["deduplicated"], again["s3_uri"]) == (True, stored["s3_uri"])


async def test_client_walking_away_mid_upload_leaves_no_parts(stack: StackControl) -> None:
    """A streamed body that stops after the multipart upload has begun is aborted by S3."""
    uploader = stack.uploader
    block = os.urandom(1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(3 * PART // len(block)):
            yield block
        wait_for(lambda: bool(multipart_uploads(stack)), 60, "the multipart upload to begin")
        raise ConnectionAbortedError("the client goes away")

    def send() -> None:
        with pytest.raises((ConnectionAbortedError, httpx.HTTPError)):
            httpx.post(
                f"{uploader.url}/v1/uploads",
                params={"dataset": DATASET, "file_name": "walked-away.bin"},
                content=body(),
                headers={
                    "Authorization": f"Bearer {uploader.token}",
                    "Content-Type": "application/octet-stream",
                },
                timeout=60,
            )

    await asyncio.to_thread(send)
    await asyncio.to_thread(stack.wait_nothing_left_in_s3)
    assert uploader.get("/readyz").status_code == 200
