"""Create batchpipe's S3 bucket (compose's one-shot ``s3-init``), through the S3 API only.

It uses the services' own settings (``BATCHPIPE_S3_*``) and S3 client, path-style, so a bucket
this creates is one the services can reach with the same credentials. It waits a bounded time
for the S3 server to answer, leaves an existing bucket alone, and exits non-zero with one line
naming the cause when the server stays unreachable or refuses the credentials.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from batchpipe_common.logging import configure_logging
from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import ENV_PREFIX, EndpointSettings, SettingsError, load_settings

log = structlog.get_logger()


class BucketSettings(BaseSettings):
    """What ``s3-init`` reads from ``BATCHPIPE_*`` variables (the S3 part of the endpoints)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    s3_endpoint_url: str | None = None
    s3_bucket: str = EndpointSettings.model_fields["s3_bucket"].default
    s3_region: str = EndpointSettings.model_fields["s3_region"].default
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    connect_timeout_s: float = Field(default=60.0, gt=0)

    def endpoints(self) -> EndpointSettings:
        """The same S3 settings as the services' model (Kafka and PostgreSQL unused here)."""
        return EndpointSettings(
            kafka_bootstrap="unused:9092",
            pg_dsn=SecretStr("postgresql://unused"),
            s3_endpoint_url=self.s3_endpoint_url,
            s3_bucket=self.s3_bucket,
            s3_region=self.s3_region,
            s3_access_key_id=self.s3_access_key_id,
            s3_secret_access_key=self.s3_secret_access_key,
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


async def _wait_for_s3(s3: Any, settings: BucketSettings) -> None:
    """Until ``ListBuckets`` answers; credentials refused is final, not worth waiting for."""
    deadline = time.monotonic() + settings.connect_timeout_s
    delay = 0.5
    while True:
        try:
            await s3.list_buckets()
            return
        except ClientError as exc:
            if _error_code(exc) in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}:
                raise SystemExit(f"s3-init: the S3 server refused the credentials: {exc}") from exc
            error: Exception = exc
        except (BotoCoreError, OSError) as exc:
            error = exc
        if time.monotonic() + delay > deadline:
            raise SystemExit(
                f"s3-init: S3 at {settings.s3_endpoint_url} did not answer within "
                f"{settings.connect_timeout_s:.0f}s: {error!r}"
            )
        log.info("waiting for s3", endpoint=settings.s3_endpoint_url, error=repr(error))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def ensure_bucket(settings: BucketSettings) -> bool:
    """Create the bucket unless it exists; True when this call created it."""
    retries = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 3}
    async with s3_client(settings.endpoints(), **retries) as s3:
        await _wait_for_s3(s3, settings)
        try:
            await s3.head_bucket(Bucket=settings.s3_bucket)
            created = False
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise SystemExit(f"s3-init: checking bucket {settings.s3_bucket}: {exc}") from exc
            try:
                await s3.create_bucket(Bucket=settings.s3_bucket)
                created = True
            except ClientError as create_exc:
                if _error_code(create_exc) != "BucketAlreadyOwnedByYou":
                    raise SystemExit(
                        f"s3-init: creating bucket {settings.s3_bucket}: {create_exc}"
                    ) from create_exc
                created = False
    log.info("bucket created" if created else "bucket exists", bucket=settings.s3_bucket)
    return created


def main() -> int:
    configure_logging("s3-init")
    try:
        settings = load_settings(BucketSettings)
    except SettingsError as exc:
        print(f"s3-init: {exc}", file=sys.stderr)
        return 2
    asyncio.run(ensure_bucket(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
