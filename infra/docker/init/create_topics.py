"""Create batchpipe's Kafka topics from the dataset contracts (compose's one-shot ``kafka-init``).

The same topics as the local stack (``batchpipe stack up``): for every contract in
``BATCHPIPE_CONTRACTS_DIR`` its data topic (``BATCHPIPE_DATA_TOPIC_PARTITIONS``, default 6) and
``<topic>.dlq`` (``BATCHPIPE_DLQ_TOPIC_PARTITIONS``, default 3), plus the manifests topic with
one partition (the lag sensor reads manifests in order); replication factor 1 (one broker).
Topics that exist are left as they are, so running it again is harmless. It runs in the
uploader image (which has ``batchpipe_common``), waits a bounded time for the broker, and exits
non-zero with one line naming the cause when the broker stays unreachable or a topic cannot be
created.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from batchpipe_common.contracts import ContractError, load_contracts
from batchpipe_common.logging import configure_logging
from batchpipe_common.settings import ENV_PREFIX, EndpointSettings, SettingsError, load_settings

MANIFESTS_PARTITIONS = 1
REPLICATION_FACTOR = 1
log = structlog.get_logger()


class TopicSettings(BaseSettings):
    """What ``kafka-init`` reads from ``BATCHPIPE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    contracts_dir: Path = Path("/app/contracts")
    manifests_topic: str = EndpointSettings.model_fields["manifests_topic"].default
    data_topic_partitions: int = Field(default=6, ge=1)
    dlq_topic_partitions: int = Field(default=3, ge=1)
    connect_timeout_s: float = Field(default=60.0, gt=0)


def topic_specs(settings: TopicSettings) -> list[NewTopic]:
    """Every topic batchpipe needs, derived from the contracts."""
    specs = [NewTopic(settings.manifests_topic, MANIFESTS_PARTITIONS, REPLICATION_FACTOR)]
    for contract in load_contracts(settings.contracts_dir).values():
        specs.append(NewTopic(contract.topic, settings.data_topic_partitions, REPLICATION_FACTOR))
        specs.append(
            NewTopic(contract.dlq_topic, settings.dlq_topic_partitions, REPLICATION_FACTOR)
        )
    return specs


async def _connected_admin(settings: TopicSettings) -> AIOKafkaAdminClient:
    """An admin client that has reached the broker, retried with backoff up to the deadline."""
    deadline = time.monotonic() + settings.connect_timeout_s
    delay = 0.5
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000
        )
        try:
            await admin.start()
            return admin
        except (KafkaError, OSError) as exc:
            await admin.close()
            if time.monotonic() + delay > deadline:
                raise SystemExit(
                    f"kafka-init: Kafka at {settings.kafka_bootstrap} unreachable after "
                    f"{settings.connect_timeout_s:.0f}s: {exc!r}"
                ) from exc
            log.info("waiting for kafka", bootstrap=settings.kafka_bootstrap, error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def create_topics(settings: TopicSettings) -> dict[str, int]:
    """Create the missing topics; returns ``{topic: partitions}`` of every topic batchpipe uses."""
    wanted = topic_specs(settings)
    admin = await _connected_admin(settings)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                error = for_code(code)
                if code != 0 and error.__name__ != "TopicAlreadyExistsError":
                    raise SystemExit(f"kafka-init: creating topic {name} failed: {error.__name__}")
        described = await admin.describe_topics([spec.name for spec in wanted])
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    created = {spec.name for spec in missing}
    for spec in wanted:
        log.info(
            "topic created" if spec.name in created else "topic exists",
            topic=spec.name,
            partitions=partitions.get(spec.name),
            wanted_partitions=spec.num_partitions,
        )
    return partitions


def main() -> int:
    configure_logging("kafka-init")
    try:
        settings = load_settings(TopicSettings)
        asyncio.run(create_topics(settings))
    except (SettingsError, ContractError) as exc:
        print(f"kafka-init: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
