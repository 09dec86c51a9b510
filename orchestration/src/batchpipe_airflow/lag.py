"""Has the sink finished a batch? Committed offsets of its consumer group versus a manifest.

The s3-producer's manifest names, for every partition the batch wrote to (data topic and
dead-letter topic), the offset of the batch's last message there. The sink commits
``offset + 1`` after it has written a message, so the batch is fully applied when, on every
one of those partitions, the group's committed offset is greater than the manifest's offset.

This asks only about the batch's own partitions and offsets, so other batches produced
before or after do not change the answer, and it reads committed offsets with the admin
client (OffsetFetch), which works while the group has no live member. Nothing here imports
Airflow: the trigger and the tests share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition


@dataclass(frozen=True, slots=True)
class PartitionTarget:
    """The offset of a batch's last message in one partition."""

    topic: str
    partition: int
    last_offset: int

    def as_list(self) -> list[Any]:
        return [self.topic, self.partition, self.last_offset]


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    target: PartitionTarget
    committed: int | None
    """The group's committed offset (next offset to read), or None when it has none."""

    @property
    def done(self) -> bool:
        return self.committed is not None and self.committed > self.target.last_offset

    @property
    def remaining(self) -> int:
        """Messages of this partition, up to the batch's last, that the sink has not committed."""
        next_to_read = self.committed if self.committed is not None else 0
        return max(0, self.target.last_offset + 1 - next_to_read)

    def describe(self) -> str:
        committed = "none" if self.committed is None else str(self.committed)
        return (
            f"{self.target.topic}[{self.target.partition}] committed={committed} "
            f"batch_end={self.target.last_offset} remaining={self.remaining}"
        )


@dataclass(frozen=True, slots=True)
class BatchProgress:
    partitions: tuple[PartitionProgress, ...]

    @property
    def drained(self) -> bool:
        return all(p.done for p in self.partitions)

    @property
    def remaining(self) -> int:
        return sum(p.remaining for p in self.partitions)

    def pending(self) -> list[PartitionProgress]:
        return [p for p in self.partitions if not p.done]

    def describe(self) -> str:
        pending = self.pending()
        if not pending:
            return f"all {len(self.partitions)} partitions of the batch committed"
        shown = "; ".join(p.describe() for p in pending[:8])
        more = f"; and {len(pending) - 8} more" if len(pending) > 8 else ""
        return (
            f"{self.remaining} messages of the batch not yet committed on {len(pending)} of "
            f"{len(self.partitions)} partitions: {shown}{more}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "remaining": self.remaining,
            "partitions": [
                {
                    "topic": p.target.topic,
                    "partition": p.target.partition,
                    "batch_end": p.target.last_offset,
                    "committed": p.committed,
                    "remaining": p.remaining,
                }
                for p in self.partitions
            ],
        }


class ManifestError(ValueError):
    """A manifest without the offsets the lag check needs."""


def targets_from_manifest(manifest: Mapping[str, Any]) -> list[PartitionTarget]:
    """The partitions and last offsets named by a manifest's ``data`` and ``dlq`` sections.

    Accepts the manifest as JSON (partition keys are strings there). A batch with no valid
    rows and no rejects has no targets: it is drained by definition.
    """
    targets: list[PartitionTarget] = []
    for section in ("data", "dlq"):
        part = manifest.get(section)
        if part is None:
            raise ManifestError(
                f"manifest of batch {manifest.get('batch_id')!r} has no {section!r}"
            )
        try:
            topic = str(part["topic"])
            offsets = part.get("offsets") or {}
            targets.extend(
                PartitionTarget(topic, int(partition), int(offset))
                for partition, offset in offsets.items()
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(
                f"manifest of batch {manifest.get('batch_id')!r} has a bad {section!r} "
                f"section: {exc}"
            ) from exc
    return sorted(targets, key=lambda t: (t.topic, t.partition))


def targets_from_lists(rows: Iterable[Iterable[Any]]) -> list[PartitionTarget]:
    """Inverse of ``PartitionTarget.as_list`` (the trigger's serialized form)."""
    targets = []
    for row in rows:
        topic, partition, offset = row
        targets.append(PartitionTarget(str(topic), int(partition), int(offset)))
    return targets


async def batch_progress(
    admin: AIOKafkaAdminClient, group_id: str, targets: Iterable[PartitionTarget]
) -> BatchProgress:
    """One OffsetFetch for the group over the batch's partitions."""
    wanted = list(targets)
    if not wanted:
        return BatchProgress(())
    committed = await admin.list_consumer_group_offsets(
        group_id, partitions=[TopicPartition(t.topic, t.partition) for t in wanted]
    )
    progress = []
    for target in wanted:
        meta = committed.get(TopicPartition(target.topic, target.partition))
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        progress.append(PartitionProgress(target, offset))
    return BatchProgress(tuple(progress))


def admin_for(bootstrap_servers: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="batchpipe-airflow-lag",
        request_timeout_ms=15000,
    )
