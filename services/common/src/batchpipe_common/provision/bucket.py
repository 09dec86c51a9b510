"""The S3 bucket, through the S3 API only, with the services' own client (path-style)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batchpipe_common.provision import ProvisionError, retry_until
from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import ServiceSettings

REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


async def _list(s3: Any) -> None:
    try:
        await s3.list_buckets()
    except ClientError as exc:
        if _code(exc) in REFUSED:
            raise ProvisionError(f"the S3 server refused the credentials ({_code(exc)})") from exc
        raise


async def ensure_bucket(settings: ServiceSettings, *, timeout_s: float = 60.0) -> bool:
    """Create ``settings.s3_bucket`` unless it exists; True when this call created it."""
    retries = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 3}
    bucket = settings.s3_bucket
    async with s3_client(settings, **retries) as s3:
        await retry_until(
            lambda: _list(s3),
            transient=(BotoCoreError, ClientError, OSError),
            timeout_s=timeout_s,
            what=f"S3 at {settings.s3_endpoint_url or 'AWS'}",
        )
        try:
            await s3.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise ProvisionError(f"checking bucket {bucket}: {exc}") from exc
        try:
            await s3.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if _code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise ProvisionError(f"creating bucket {bucket}: {exc}") from exc
            return False
    return True
