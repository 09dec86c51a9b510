"""Kafka adapter: producer and consumer factories with batchpipe's delivery settings."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from batchpipe_common.settings import ServiceSettings


def reliable_producer(settings: ServiceSettings, **overrides: Any) -> AIOKafkaProducer:
    """Idempotent, ``acks=all``, compressed, batched; ``max_request_size`` under the broker cap."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "compression_type": "lz4",
        "linger_ms": 20,
        "max_batch_size": 1024 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def manual_commit_consumer(
    settings: ServiceSettings, *topics: str, group_id: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer-group member that never auto-commits and reads only committed data."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "fetch_max_bytes": 32 * 1024 * 1024,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def admin_client(settings: ServiceSettings, **overrides: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **overrides)
