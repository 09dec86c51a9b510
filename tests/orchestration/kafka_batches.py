"""Throwaway batches on the stack's real Kafka broker for the lag trigger and sensor tests.

Offsets are committed the way the sink commits them (``offset + 1`` after writing), by a
consumer that is assigned partitions and never joins the group, so the group has no members.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from batchpipe_airflow.lag import targets_from_manifest
from batchpipe_airflow.triggers import BatchDrainedTrigger

DATA_PARTITIONS = 3
DLQ_PARTITIONS = 2


class Batchpipe:
    """A throwaway data topic, its DLQ and a sink group on the real broker."""

    def __init__(self, bootstrap: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.bootstrap = bootstrap
        self.topic = f"lagtest-{suffix}"
        self.dlq = f"{self.topic}.dlq"
        self.group = f"lagtest-sink-{suffix}"

    async def create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(self.topic, DATA_PARTITIONS, 1),
                    NewTopic(self.dlq, DLQ_PARTITIONS, 1),
                ]
            )
        finally:
            await admin.close()

    async def delete_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.topic, self.dlq])
        finally:
            await admin.close()

    async def produce_batch(self, batch_id: str, chunks: int, dead_letters: int) -> dict[str, Any]:
        """Send a batch's chunks and dead letters; return its manifest as JSON."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        data: dict[str, int] = {}
        dlq: dict[str, int] = {}
        try:
            for seq in range(chunks):
                meta = await producer.send_and_wait(
                    self.topic,
                    b"chunk",
                    key=f"{batch_id}:{seq}".encode(),
                    partition=seq % DATA_PARTITIONS,
                )
                data[str(meta.partition)] = meta.offset
            for row in range(dead_letters):
                meta = await producer.send_and_wait(
                    self.dlq,
                    b"{}",
                    key=f"{batch_id}:{row}".encode(),
                    partition=row % DLQ_PARTITIONS,
                )
                dlq[str(meta.partition)] = meta.offset
        finally:
            await producer.stop()
        return {
            "batch_id": batch_id,
            "data": {"topic": self.topic, "offsets": data},
            "dlq": {"topic": self.dlq, "offsets": dlq},
        }

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit as the sink does, from a consumer that never joins the group."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
        finally:
            await consumer.stop()

    async def commit_past(self, manifest: dict[str, Any], only_topic: str | None = None) -> None:
        targets = targets_from_manifest(manifest)
        await self.commit(
            {
                TopicPartition(t.topic, t.partition): t.last_offset + 1
                for t in targets
                if only_topic is None or t.topic == only_topic
            }
        )

    def trigger(self, manifest: dict[str, Any], deadline: float) -> BatchDrainedTrigger:
        return BatchDrainedTrigger(
            batch_id=manifest["batch_id"],
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            targets=[t.as_list() for t in targets_from_manifest(manifest)],
            deadline=deadline,
            poll_interval=0.2,
        )
