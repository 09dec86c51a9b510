"""The Kafka topics: per contract its data topic and ``<topic>.dlq``, plus the manifests topic
(one partition: the lag sensor reads manifests in order); replication factor 1."""

from __future__ import annotations

from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from pydantic import Field

from batchpipe_common.contracts import Contract, load_contracts
from batchpipe_common.provision import ProvisionError, retry_until
from batchpipe_common.settings import ServiceSettings

MANIFESTS_PARTITIONS = 1
REPLICATION_FACTOR = 1
DATA_PARTITIONS = 6
DLQ_PARTITIONS = 3


class TopicSettings(ServiceSettings):
    """How many partitions a contract's topics get when they are created (by the init
    container, the local stack, or the producer for a contract registered while it runs)."""

    data_topic_partitions: int = Field(default=DATA_PARTITIONS, ge=1)
    dlq_topic_partitions: int = Field(default=DLQ_PARTITIONS, ge=1)


def contract_topic_specs(
    contract: Contract, data_partitions: int = DATA_PARTITIONS, dlq_partitions: int = DLQ_PARTITIONS
) -> list[NewTopic]:
    """The data topic and the dead-letter topic of one contract."""
    return [
        NewTopic(contract.topic, data_partitions, REPLICATION_FACTOR),
        NewTopic(contract.dlq_topic, dlq_partitions, REPLICATION_FACTOR),
    ]


def topic_specs(
    contracts_dir: Path,
    manifests_topic: str,
    data_partitions: int = DATA_PARTITIONS,
    dlq_partitions: int = DLQ_PARTITIONS,
) -> list[NewTopic]:
    """Every topic batchpipe needs, derived from the contracts."""
    specs = [NewTopic(manifests_topic, MANIFESTS_PARTITIONS, REPLICATION_FACTOR)]
    for contract in load_contracts(contracts_dir).values():
        specs += contract_topic_specs(contract, data_partitions, dlq_partitions)
    return specs


async def _started_admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
    except BaseException:
        await admin.close()
        raise
    return admin


async def ensure_topics(
    bootstrap: str, specs: list[NewTopic], *, timeout_s: float = 60.0
) -> dict[str, bool]:
    """Create the missing topics; ``{topic: created by this call}`` for every wanted topic."""
    admin = await retry_until(
        lambda: _started_admin(bootstrap),
        transient=(KafkaError, OSError),
        timeout_s=timeout_s,
        what=f"Kafka at {bootstrap}",
    )
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created = {spec.name for spec in missing}
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                error = for_code(code)
                if code != 0:
                    created.discard(name)
                    if error.__name__ != "TopicAlreadyExistsError":
                        raise ProvisionError(f"creating topic {name} failed: {error.__name__}")
    finally:
        await admin.close()
    return {spec.name: spec.name in created for spec in specs}
