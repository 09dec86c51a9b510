"""The sink's consumer loop: poll, apply in transactions, then commit offsets.

One consumer-group member per process. Each poll (bounded by messages, bytes and time) is cut
into units (a big partition each, the small ones together), and the units are applied by
``sink_copy_connections`` PostgreSQL transactions at once (``pipeline.Pipeline``: a free
connection takes the next unit, whichever poll it came from), while the next poll is fetched
(``polling.Poller``). A partition's offset (last record + 1) is committed to Kafka only after
its unit's transaction has committed (``offsets.Offsets``). When PostgreSQL or Kafka fails,
the pipeline halts: consumption is paused, the failed units are retried with backoff, no
offset past them is committed, and readiness reports the reason until they go through. On a
rebalance the listener waits for the revoked partitions' running transactions and commits
their offsets before the partitions move. On stop the running transactions finish, their
offsets are committed and the member leaves the group. Every ``sink_contracts_poll_s`` the
consumer lets the pipeline drain and looks at the contracts folder: a new or changed contract
gets its topics and raw table, and the consumer re-subscribes (offsets of applied units
committed first, so the rebalance this causes loses and repeats nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from batchpipe_common import db
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.kafka import manual_commit_consumer
from batchpipe_sink import metrics
from batchpipe_sink.ledger import mark_loaded
from batchpipe_sink.loader import Loader
from batchpipe_sink.messages import TopicMap, UnknownColumns, decode
from batchpipe_sink.offsets import Offsets
from batchpipe_sink.pipeline import Pipeline
from batchpipe_sink.polling import Poller, Unit, units
from batchpipe_sink.registry import ContractRegistry
from batchpipe_sink.schema import ensure_bookkeeping
from batchpipe_sink.settings import SinkSettings
from batchpipe_sink.state import Backoff, ConsumerState
from batchpipe_sink.watchdog import ProgressWatchdog, Verdict

log = structlog.get_logger(__name__)

CRASH_EXIT_CODE = 17


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: SinkConsumer) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._sink.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._sink.on_assigned(assigned)


class SinkConsumer:
    def __init__(
        self, settings: SinkSettings, contracts: ContractFolder, pool: asyncpg.Pool
    ) -> None:
        self._settings = settings
        self._registry = ContractRegistry(settings, contracts)
        self._pool = pool
        self._loader = Loader(settings.instance_id)
        self._topics = TopicMap.build([], settings.manifests_topic)
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._parked = asyncio.Event()
        self._wake = asyncio.Event()
        self._pipeline = Pipeline(settings.sink_copy_connections, self._apply_unit)
        self._poller: Poller | None = None
        self._paused = False
        self._backoff = Backoff(settings.sink_retry_initial_s, settings.sink_retry_max_s)
        self._task: asyncio.Task[None] | None = None
        self._crash_armed = settings.sink_crash_after_db_commit
        self.watchdog = ProgressWatchdog(settings.sink_stall_ready_s, settings.sink_stall_live_s)
        self._offsets = Offsets(settings.sink_commit_timeout_s, self.watchdog.progressed)
        self.held: str | None = "starting"

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def refused(self) -> dict[str, str]:
        """Contracts whose raw table cannot follow them, with the reason."""
        return self._registry.refused

    @property
    def topics(self) -> list[str]:
        return self._topics.topics

    @property
    def running(self) -> bool:
        return self._consumer is not None and self._task is not None and not self._task.done()

    def state(self) -> ConsumerState:
        assignment = self._consumer.assignment() if self._consumer is not None else set()
        return ConsumerState(
            instance_id=self._settings.instance_id,
            group_id=self._settings.sink_group_id,
            running=self.running,
            paused=self._paused,
            held=self.held,
            refused_contracts=dict(self.refused),
            assignment=sorted(f"{tp.topic}:{tp.partition}" for tp in assignment),
        )

    def health(self) -> Verdict:
        """The watchdog's verdict: stalled with lag means not ready, then not live."""
        return self.watchdog.verdict(paused=self._paused, held=self.held)

    def assigned(self) -> set[TopicPartition]:
        return self._consumer.assignment() if self._consumer is not None else set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-sink-consumer")

    async def stop(self, grace_s: float = 60) -> None:
        """Finish the running transactions, commit their offsets, leave the group."""
        self._stopping.set()
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            log.error("consumer did not stop in time; cancelling", grace_s=grace_s)
            self._task.cancel()
        except Exception:  # the loop's failure was logged when it happened
            return

    async def _run(self) -> None:
        try:
            await self._prepare_tables()
            await self._start_consumer()
            if self._consumer is not None:
                await self._loop()
        except Exception:
            log.exception("consumer loop failed")
            self.held = "consumer loop failed (see the log)"
            raise
        finally:
            await self._pipeline.stop()
            if self._poller is not None:
                await self._poller.rewind_prefetch()
            if self._consumer is not None:
                await self._offsets.commit(self._consumer)
                try:
                    await asyncio.wait_for(
                        self._consumer.stop(), self._settings.sink_kafka_timeout_s
                    )
                    log.info("left the consumer group", group_id=self._settings.sink_group_id)
                except TimeoutError:
                    log.error("leaving the consumer group timed out; the broker will expire us")

    async def _prepare_tables(self) -> None:
        """Bookkeeping tables and raw tables; contracts that cannot be reconciled are refused."""
        while not self._stopping.is_set():
            try:
                async with self._connection("preparing tables") as conn:
                    await ensure_bookkeeping(conn)
                    topics = await self._registry.reconcile(conn)
                    await mark_loaded(conn, None)
            except Exception as exc:  # PostgreSQL unreachable: retry
                await self._hold("postgres", f"preparing tables: {exc}")
                continue
            self._topics = topics
            return

    async def _follow_contracts(self) -> None:
        """With the pipeline drained (nothing in flight): take in new or changed contracts
        without a restart. Their topics are created when missing, their raw tables created or
        evolved, then the decoder uses them and, when the topic list changed, the consumer
        re-subscribes after committing the offsets of what it applied. A failure is retried at
        the next look."""
        previous = self._registry.snapshot()
        if not self._registry.changed():
            return
        try:
            await self._registry.ensure_topics()
            async with self._connection("registering contracts") as conn:
                topics = await self._registry.reconcile(conn)
        except Exception as exc:
            log.warning("new contracts not taken in yet; will retry", error=str(exc))
            self._registry.retry_later(previous)
            return
        consumer, poller = self._consumer, self._poller
        assert consumer is not None
        assert poller is not None
        await poller.rewind_prefetch()
        await self._offsets.commit(self._consumer)
        resubscribe = topics.topics != self._topics.topics
        self._topics = topics
        if resubscribe:
            consumer.subscribe(topics.topics, listener=_Rebalance(self))
        log.info("contracts taken in", contracts=self._registry.names(), topics=topics.topics)

    async def _start_consumer(self) -> None:
        s = self._settings
        while not self._stopping.is_set():
            consumer = manual_commit_consumer(
                s,
                group_id=s.sink_group_id,
                client_id=s.instance_id,
                max_partition_fetch_bytes=s.sink_max_partition_fetch_bytes,
                fetch_max_bytes=s.sink_poll_max_bytes,
            )
            consumer.subscribe(self._topics.topics, listener=_Rebalance(self))
            try:
                await asyncio.wait_for(consumer.start(), s.sink_kafka_timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), s.sink_kafka_timeout_s)
                detail = str(exc) or f"no answer in {s.sink_kafka_timeout_s:g} s"
                await self._hold("kafka", f"joining the consumer group: {detail}")
                continue
            self._consumer = consumer
            self._poller = Poller(
                consumer,
                timeout_ms=s.sink_poll_timeout_ms,
                max_records=s.sink_poll_max_records,
                max_bytes=s.sink_poll_max_bytes,
            )
            self.held = None
            log.info("consumer started", group_id=s.sink_group_id, topics=self._topics.topics)
            return

    # --- the loop --------------------------------------------------------------------------

    async def _loop(self) -> None:
        consumer, poller = self._consumer, self._poller
        assert consumer is not None
        assert poller is not None
        pipeline = self._pipeline
        s = self._settings
        while not self._stopping.is_set():
            if pipeline.failure is not None:
                await self._hold_failed_units()
                continue
            if self._paused:
                await pipeline.drain()
                if pipeline.failure is None:
                    await poller.rewind_prefetch()
                    await self._offsets.commit(self._consumer)
                    self._parked.set()
                    await self._idle(s.sink_poll_timeout_ms / 1000)
                continue
            self._parked.clear()
            if self._registry.due():
                await pipeline.drain()
                if pipeline.failure is not None:
                    continue
                await self._follow_contracts()
            await pipeline.wait_for_room()
            if pipeline.failure is not None:
                continue
            consumer.resume(*consumer.assignment())
            poll = await poller.next()
            if poll is None:  # caught up: commit what the running units apply
                await pipeline.drain()
                await self._offsets.commit(self._consumer)
                continue
            if s.sink_prefetch and self.held is None:
                poller.prefetch()  # the next poll's fetch overlaps this one's COPY
            try:
                messages = [decode(r, self._topics) for r in poll.records]
            except UnknownColumns as exc:
                await poller.rewind_prefetch()
                poller.rewind(poll)
                await self._hold(type(exc).__name__, str(exc))
                continue
            moved = set(poll.offsets) - consumer.assignment()  # by a rebalance since the fetch
            cut = (u.without(moved) for u in units(poll, messages, s.sink_unit_min_bytes))
            pipeline.put(u for u in cut if u is not None)
            await self._offsets.commit(self._consumer)

    async def _hold_failed_units(self) -> None:
        """A unit failed: let the running ones finish, commit what applied, hold, retry."""
        pipeline, poller = self._pipeline, self._poller
        assert poller is not None
        await pipeline.settle()
        await poller.rewind_prefetch()
        await self._offsets.commit(self._consumer)
        exc = pipeline.failure
        assert exc is not None
        reason = "postgres" if _is_postgres_error(exc) else type(exc).__name__
        await self._hold(reason, str(exc) or type(exc).__name__)
        pipeline.resume()

    async def _apply_unit(self, unit: Unit) -> None:
        """One unit in one transaction; then the ledger for its batches (after the commit,
        so that concurrent transactions are all seen by the last one), then its offset is
        committable."""
        async with self._connection("applying a poll batch") as conn:
            outcome = await self._loader.apply(conn, unit.messages)
            if self._crash_armed and outcome.chunks_applied:
                log.warning("test hook: exiting after the database commit, before offsets")
                os._exit(CRASH_EXIT_CODE)
            outcome.log()
            await mark_loaded(conn, sorted(outcome.batches))
        for tp, next_offset in unit.offsets.items():
            self._offsets.applied(tp, next_offset)
        self.watchdog.progressed()
        self._backoff.reset()
        if self.held is not None:
            log.info("consumption resumed", after=self.held)
            self.held = None

    async def _hold(self, reason: str, detail: str) -> None:
        """Pause consumption and wait a backoff step before the next attempt."""
        metrics.RETRIES.labels(reason).inc()
        self.held = f"{reason}: {detail}"[:500]
        delay = self._backoff.next()
        log.error(
            "holding consumption; will retry", reason=reason, detail=detail[:500], retry_in_s=delay
        )
        await self._idle(delay)

    async def _idle(self, seconds: float) -> None:
        """Wait without consuming, staying a live group member; a resume or stop wakes it."""
        consumer = self._consumer
        deadline = time.monotonic() + seconds
        self._wake.clear()
        while not self._stopping.is_set():
            if consumer is not None:
                consumer.pause(*consumer.assignment())
                polled = await consumer.getmany(timeout_ms=0)  # counts as a poll, returns nothing
                for tp, records in polled.items():  # fetched before the pause took effect
                    consumer.seek(tp, records[0].offset)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, 1.0))
            if self._wake.is_set():
                break
        if consumer is not None and not self._paused:
            consumer.resume(*consumer.assignment())

    @contextlib.asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection whose work is bounded by the transaction deadline; a connection
        whose work failed (lost, timed out, refused) is closed rather than reused."""
        timeout = self._settings.sink_transaction_timeout_s
        try:
            async with db.bounded_connection(self._pool, timeout, what) as conn:
                yield conn
        except (db.ConnectionLost, db.DeadlineExceeded) as exc:
            metrics.DEADLINES.labels(type(exc).__name__).inc()
            raise

    # --- rebalance and control -------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move: apply what was polled of them (unless a failure holds the
        pipeline: then let the running transactions finish) and commit their offsets."""
        await self._pipeline.finish(revoked)
        if self._consumer is not None:
            await self._offsets.commit_revoked(self._consumer, revoked)
        log.info(
            "partitions revoked", partitions=sorted(f"{t.topic}:{t.partition}" for t in revoked)
        )

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._consumer is not None and self._paused:
            self._consumer.pause(*assigned)
        log.info(
            "partitions assigned", partitions=sorted(f"{t.topic}:{t.partition}" for t in assigned)
        )

    async def pause(self, wait_s: float = 30) -> ConsumerState:
        """Stop consuming once the polled units are applied; returns once parked (or wait_s)."""
        self._paused = True
        metrics.PAUSED.set(1)
        if self.running:
            try:
                await asyncio.wait_for(self._parked.wait(), wait_s)
            except TimeoutError:
                log.warning("pause requested but the loop is still busy", waited_s=wait_s)
        log.info("consumption paused on request")
        return self.state()

    def resume(self) -> ConsumerState:
        self._paused = False
        self._parked.clear()
        self._wake.set()
        metrics.PAUSED.set(0)
        if self._consumer is not None:
            self._consumer.resume(*self._consumer.assignment())
        log.info("consumption resumed on request")
        return self.state()

    async def mark_pending_batches(self) -> None:
        """Housekeeping: mark loaded any batch a crash left complete but unmarked."""
        async with self._connection("marking complete batches loaded") as conn:
            await mark_loaded(conn, None)


def _is_postgres_error(exc: BaseException) -> bool:
    return not isinstance(exc, UnknownColumns) and (
        db.is_outage(exc) or isinstance(exc, asyncpg.PostgresError)
    )
