"""Kafka offsets of applied units: committed only after their PostgreSQL transaction.

``applied`` records that a partition's records before ``next_offset`` are in PostgreSQL;
``commit`` sends what was recorded to the group coordinator, one commit at a time. Offsets of
partitions this member no longer owns are dropped (the new owner reads those records again and
skips them as duplicates). A commit that fails is kept and retried with the next one: a lost
commit repeats work, never loses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition

from batchpipe_sink import metrics

log = structlog.get_logger(__name__)


class Offsets:
    def __init__(self, timeout_s: float, on_committed: Callable[[], None]) -> None:
        self._timeout_s = timeout_s
        self._on_committed = on_committed
        self._pending: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()

    def applied(self, tp: TopicPartition, next_offset: int) -> None:
        self._pending[tp] = max(next_offset, self._pending.get(tp, 0))

    async def commit(self, consumer: AIOKafkaConsumer | None) -> None:
        """Commit every applied offset not committed yet."""
        async with self._lock:
            await self._commit(consumer, None)

    async def commit_revoked(
        self, consumer: AIOKafkaConsumer, revoked: set[TopicPartition]
    ) -> None:
        """Before ``revoked`` partitions move: commit their offsets, then forget them."""
        async with self._lock:
            await self._commit(consumer, revoked)
            for tp in revoked:
                self._pending.pop(tp, None)

    async def _commit(
        self, consumer: AIOKafkaConsumer | None, only: set[TopicPartition] | None
    ) -> None:
        if consumer is None or not self._pending:
            return
        assigned = consumer.assignment()
        for tp in [tp for tp in self._pending if tp not in assigned]:
            del self._pending[tp]  # moved to another member, which re-reads and skips
        offsets = {tp: off for tp, off in self._pending.items() if only is None or tp in only}
        if not offsets:
            return
        try:
            await asyncio.wait_for(consumer.commit(offsets), self._timeout_s)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offsets not committed: partitions moved", error=str(exc))
        except (KafkaError, OSError, TimeoutError) as exc:
            metrics.OFFSET_COMMIT_FAILURES.inc()
            log.warning(
                "offset commit failed; retrying later", error=str(exc) or type(exc).__name__
            )
            return
        for tp, off in offsets.items():
            if self._pending.get(tp) == off:
                del self._pending[tp]
        self._on_committed()
