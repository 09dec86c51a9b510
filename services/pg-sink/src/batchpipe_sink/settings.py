"""The pg-sink's settings: the shared endpoints plus ``BATCHPIPE_SINK_*`` knobs."""

from __future__ import annotations

import socket

from pydantic import Field

from batchpipe_common.provision.topics import TopicSettings
from batchpipe_common.settings import EndpointSettings


class SinkSettings(EndpointSettings, TopicSettings):
    """Read from ``BATCHPIPE_*``; the sink's own fields are ``BATCHPIPE_SINK_*``."""

    sink_contracts_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="how often the consumer looks for new or changed contracts (between polls)",
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="this replica's name (logs, batchpipe.chunks.applied_by)",
    )
    sink_group_id: str = Field(default="batchpipe-pg-sink", min_length=1)
    sink_poll_max_records: int = Field(default=5000, ge=1, description="most messages in one poll")
    sink_poll_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="most message bytes in one poll (at least one message is taken)",
    )
    sink_poll_timeout_ms: int = Field(
        default=500, ge=10, description="longest wait for messages before an empty poll"
    )
    sink_max_partition_fetch_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="fetch size per partition; small fetches let the next poll's fetch overlap "
        "the current COPY (a larger message still comes whole)",
    )
    sink_copy_connections: int = Field(
        default=2,
        ge=1,
        le=16,
        description="transactions (connections) applying polled units at once, one per "
        "partition at a time, with no barrier between polls; a partition's offset is committed "
        "once its unit's transaction has",
    )
    sink_unit_min_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="a partition with at least this many message bytes in a poll is applied in "
        "a transaction of its own (a backlog goes over the connections at once); the poll's "
        "smaller partitions share one transaction",
    )
    sink_prefetch: bool = Field(
        default=True,
        description="fetch and decompress the next poll while the current one is applied",
    )
    sink_retry_initial_s: float = Field(default=0.5, gt=0)
    sink_retry_max_s: float = Field(default=15.0, gt=0)
    sink_commit_timeout_s: float = Field(default=15.0, gt=0)
    sink_transaction_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="deadline of one poll batch's PostgreSQL work (COPY included) and of any "
        "other statement the sink runs; passing it is an error that holds and retries",
    )
    sink_kafka_timeout_s: float = Field(
        default=30.0, gt=0, description="deadline of joining and leaving the consumer group"
    )
    sink_stall_ready_s: float = Field(
        default=20.0,
        gt=0,
        description="watchdog: lag on the assigned partitions and no progress for this long "
        "makes the replica report not ready",
    )
    sink_stall_live_s: float = Field(
        default=45.0,
        gt=0,
        description="watchdog: ... and for this long, not live (/healthz 503) unless it is held "
        "by a named outage, so that an orchestrator restarts it",
    )
    sink_lag_refresh_s: float = Field(
        default=10.0, gt=0, description="how often the lag gauges and pending ledgers refresh"
    )
    sink_pg_pool_size: int = Field(default=4, ge=2)
    sink_crash_after_db_commit: bool = Field(
        default=False,
        description="TEST HOOK: exit the process right after the first PostgreSQL commit that "
        "applied a chunk, before the Kafka offset commit",
    )
