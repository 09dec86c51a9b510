"""What an S3 outage kept the uploader from cleaning is cleaned once S3 answers (real S3)."""

from __future__ import annotations

import uuid

import pytest

from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import EndpointSettings, load_settings
from batchpipe_uploader.leftovers import Leftover, Leftovers
from batchpipe_uploader.multipart import STAGING_PREFIX

pytestmark = pytest.mark.integration


async def test_a_staging_key_is_cleaned_once_s3_answers(endpoints: EndpointSettings) -> None:
    bucket = endpoints.s3_bucket
    staging = f"{STAGING_PREFIX}{uuid.uuid4().hex}/left.csv"
    neighbour = f"{STAGING_PREFIX}{uuid.uuid4().hex}/other.csv"
    leftovers = Leftovers()
    async with s3_client(endpoints) as s3:
        # what an interrupted upload leaves: two multipart uploads of its key (one whose id it
        # never heard of) and the object itself; another upload's key must stay untouched
        for _ in range(2):
            await s3.create_multipart_upload(Bucket=bucket, Key=staging)
        await s3.put_object(Bucket=bucket, Key=staging, Body=b"parts")
        other = await s3.create_multipart_upload(Bucket=bucket, Key=neighbour)
        leftovers.add(Leftover(bucket, staging))

        unreachable = load_settings(EndpointSettings, s3_endpoint_url="http://127.0.0.1:9")
        async with s3_client(unreachable) as away:
            await leftovers.clean(away)
        assert len(leftovers) == 1, "kept while S3 does not answer"

        await leftovers.clean(s3)
        assert len(leftovers) == 0
        uploads = (await s3.list_multipart_uploads(Bucket=bucket, Prefix=STAGING_PREFIX)).get(
            "Uploads", []
        )
        assert [u["Key"] for u in uploads] == [neighbour]
        listing = await s3.list_objects_v2(Bucket=bucket, Prefix=staging)
        assert not listing.get("Contents")

        leftovers.add(Leftover(bucket, neighbour, other["UploadId"]))
        await leftovers.clean(s3)
        await leftovers.clean(s3)  # already gone: still counts as cleaned
        assert len(leftovers) == 0
        uploads = (await s3.list_multipart_uploads(Bucket=bucket, Prefix=neighbour)).get(
            "Uploads", []
        )
        assert uploads == []


async def test_a_final_keys_uploads_are_aborted_and_its_object_kept(
    endpoints: EndpointSettings,
) -> None:
    """An inbox file's upload writes its content-addressed key itself: what an outage leaves
    there is the multipart upload, while the object may be another upload's, stored whole."""
    bucket = endpoints.s3_bucket
    key = f"bank_transactions/sha256={uuid.uuid4().hex}/kept.csv"
    leftovers = Leftovers()
    async with s3_client(endpoints) as s3:
        await s3.put_object(Bucket=bucket, Key=key, Body=b"stored whole")
        await s3.create_multipart_upload(Bucket=bucket, Key=key)
        leftovers.add(Leftover(bucket, key, with_object=False))
        await leftovers.clean(s3)
        assert len(leftovers) == 0
        uploads = (await s3.list_multipart_uploads(Bucket=bucket, Prefix=key)).get("Uploads", [])
        assert uploads == []
        stored = await s3.get_object(Bucket=bucket, Key=key)
        assert await stored["Body"].read() == b"stored whole"
