"""Replicas in one consumer group share the partitions and load a batch with exact counts,
also when one of them is removed in the middle of the batch."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded, wait_until
from tests.sink.conftest import Dataset, ServiceProcess, SinkFactory, wait_for
from tests.sink.wire_producer import BankBatch, generated_rows
from tests.support.consumer_group import group_settled


def start_replicas(start_sink: SinkFactory, dataset: Dataset, count: int) -> list[ServiceProcess]:
    sinks = [start_sink(f"pg-sink-{i}") for i in range(1, count + 1)]
    wait_for(lambda: group_settled(sinks, dataset.contract.topic), 90, f"{count} replicas assigned")
    return sinks


@pytest.mark.parametrize("replicas", [2, 3])
async def test_replicas_share_a_batch_with_exact_counts(
    replicas: int,
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    sinks = start_replicas(start_sink, dataset, replicas)
    batch = BankBatch(dataset.contract, generated_rows(30_000), {5, 29_999}, chunk_rows=500)
    await batch.send_all(producer, endpoints.manifests_topic)
    await wait_loaded(sinks[0], batch.batch_id)

    assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
    workers = await warehouse.fetch(
        "SELECT DISTINCT applied_by FROM batchpipe.chunks WHERE batch_id = $1", batch.batch_id
    )
    assert {r["applied_by"] for r in workers} == {s.name for s in sinks}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_removing_a_replica_mid_batch_keeps_counts_exact(
    sig: int,
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    sinks = start_replicas(start_sink, dataset, 3)
    batch = BankBatch(dataset.contract, generated_rows(60_000), {7, 777}, chunk_rows=500)
    half = len(batch.chunks) // 2
    await batch.send_chunks(producer, range(half))

    async def first_half_applied() -> bool:
        n: int = await warehouse.fetchval(
            "SELECT count(*) FROM batchpipe.chunks WHERE batch_id = $1", batch.batch_id
        )
        return n == half

    await wait_until(first_half_applied, 60, "first half of the chunks applied")
    await batch.send_chunks(producer, range(half, len(batch.chunks)))
    removed = sinks[1]
    exit_code = await asyncio.to_thread(removed.stop, sig)
    assert exit_code == -sig, removed.log_tail()  # uvicorn re-raises SIGTERM after shutdown
    if sig == signal.SIGTERM:
        assert "left the consumer group" in removed.log_tail(), removed.log_tail()
    await batch.send_dead_letters(producer)
    await batch.send_manifest(producer, endpoints.manifests_topic)
    await wait_loaded(sinks[0], batch.batch_id, timeout=180)

    assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
    by_replica = await warehouse.fetch(
        "SELECT applied_by, count(*) AS n FROM batchpipe.chunks WHERE batch_id = $1 "
        "GROUP BY applied_by",
        batch.batch_id,
    )
    counts = {r["applied_by"]: r["n"] for r in by_replica}
    assert counts.get(removed.name, 0) > 0, "the removed replica had loaded part of the batch"
    assert sum(counts.values()) == len(batch.chunks)
