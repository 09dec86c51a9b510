"""Consumer-group lag: end offset, committed offset and lag per topic partition.

Read with an admin client (the group's committed offsets) and a consumer outside any group
(end and beginning offsets), so it works whatever the sink's own consumer is doing, paused
included. A partition without a committed offset lags by everything it holds.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from pydantic import BaseModel

from batchpipe_common.kafka import admin_client
from batchpipe_common.settings import EndpointSettings
from batchpipe_sink import metrics

log = structlog.get_logger(__name__)


class PartitionLag(BaseModel):
    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None
    lag: int


class LagReport(BaseModel):
    group_id: str
    total_lag: int
    partitions: list[PartitionLag]


class LagProbe:
    """Reads the group's lag; starts its Kafka clients lazily (Kafka may be down at start)."""

    def __init__(self, settings: EndpointSettings, group_id: str, timeout_s: float = 10) -> None:
        self._settings = settings
        self.group_id = group_id
        self._timeout = timeout_s
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None:
                admin = admin_client(self._settings, request_timeout_ms=int(self._timeout * 1000))
                try:
                    await admin.start()
                except BaseException:
                    await admin.close()
                    raise
                self._admin = admin
            if self._offsets is None:
                offsets = AIOKafkaConsumer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    group_id=None,
                    enable_auto_commit=False,
                    isolation_level="read_committed",
                    request_timeout_ms=int(self._timeout * 1000),
                )
                try:
                    await offsets.start()
                except BaseException:
                    await offsets.stop()
                    raise
                self._offsets = offsets
            return self._admin, self._offsets

    async def ping(self) -> bool:
        """Kafka answers a metadata request."""
        try:
            admin, _ = await asyncio.wait_for(self._clients(), self._timeout)
            await asyncio.wait_for(admin.describe_cluster(), 3)
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def report(self, topics: list[str]) -> LagReport:
        return await asyncio.wait_for(self._report(topics), self._timeout * 2)

    async def _committed(self, admin: AIOKafkaAdminClient) -> dict[TopicPartition, int]:
        for attempt in range(5):
            try:
                offsets = await admin.list_consumer_group_offsets(self.group_id)
            except KafkaError as exc:
                if not exc.retriable or attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return {}

    async def _report(self, topics: list[str]) -> LagReport:
        admin, offsets = await self._clients()
        described = await admin.describe_topics(topics)
        tps = sorted(
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if t["error_code"] == 0
            for p in t["partitions"]
        )
        committed = await self._committed(admin)
        ends = await offsets.end_offsets(tps) if tps else {}
        starts = await offsets.beginning_offsets(tps) if tps else {}
        rows: list[PartitionLag] = []
        for tp in tps:
            done = committed.get(tp)
            lag = max(0, ends[tp] - (done if done is not None else starts[tp]))
            rows.append(
                PartitionLag(
                    topic=tp.topic,
                    partition=tp.partition,
                    end_offset=ends[tp],
                    committed_offset=done,
                    lag=lag,
                )
            )
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(lag)
        return LagReport(
            group_id=self.group_id, total_lag=sum(r.lag for r in rows), partitions=rows
        )

    async def close(self) -> None:
        async with self._lock:
            if self._offsets is not None:
                await self._offsets.stop()
                self._offsets = None
            if self._admin is not None:
                await self._admin.close()
                self._admin = None
