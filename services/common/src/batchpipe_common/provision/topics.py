"""The Kafka topics: per contract its data topic and ``<topic>.dlq``, plus the manifests topic
(one partition: the lag sensor reads manifests in order); replication factor 1."""

from __future__ import annotations

from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from batchpipe_common.contracts import load_contracts
from batchpipe_common.provision import ProvisionError, retry_until

MANIFESTS_PARTITIONS = 1
REPLICATION_FACTOR = 1
DATA_PARTITIONS = 6
DLQ_PARTITIONS = 3


def topic_specs(
    contracts_dir: Path,
    manifests_topic: str,
    data_partitions: int = DATA_PARTITIONS,
    dlq_partitions: int = DLQ_PARTITIONS,
) -> list[NewTopic]:
    """Every topic batchpipe needs, derived from the contracts."""
    specs = [NewTopic(manifests_topic, MANIFESTS_PARTITIONS, REPLICATION_FACTOR)]
    for contract in load_contracts(contracts_dir).values():
        specs.append(NewTopic(contract.topic, data_partitions, REPLICATION_FACTOR))
        specs.append(NewTopic(contract.dlq_topic, dlq_partitions, REPLICATION_FACTOR))
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
