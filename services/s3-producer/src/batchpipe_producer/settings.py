"""Settings of the s3-producer: the shared endpoints plus ``BATCHPIPE_PRODUCER_*`` knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from batchpipe_common.provision.topics import TopicSettings


class ProducerSettings(TopicSettings):
    producer_chunk_rows: int = Field(
        default=10_000, ge=1, description="Most valid rows in one chunk message"
    )
    producer_chunk_bytes: int = Field(
        default=1_000_000,
        ge=4096,
        le=8 * 1024 * 1024,
        description="Most bytes of one chunk (uncompressed); keep under the broker's cap",
    )
    producer_compression: Literal["zstd", "lz4"] = Field(
        default="zstd",
        description="Kafka compression of the data, dead-letter and manifest messages",
    )
    producer_max_in_flight: int = Field(
        default=32, ge=1, description="Messages sent but not yet acknowledged, per run"
    )
    producer_max_concurrent_runs: int = Field(
        default=2, ge=1, description="Runs producing at once; further runs queue"
    )
    producer_spool_dir: Path | None = Field(
        default=None, description="Where Parquet objects are spooled (default: system temp)"
    )
    producer_stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A run whose progress (bytes read, rows, chunks sent) does not move for "
        "this long fails with that reason instead of hanging",
    )
    producer_shutdown_grace_seconds: float = Field(
        default=20.0, ge=0, description="How long shutdown waits for runs to stop"
    )
