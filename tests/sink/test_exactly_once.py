"""Exactly once: a producer re-run, and a crash between the database and offset commits,
leave no duplicate ``(_batch_id, _source_row)``."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import AIOKafkaProducer

from batchpipe_common.kafka import admin_client
from batchpipe_common.settings import EndpointSettings
from batchpipe_sink.consumer import CRASH_EXIT_CODE
from tests.sink.checks import duplicate_rows, raw_totals, wait_drained, wait_loaded
from tests.sink.conftest import Dataset, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows


async def test_producing_the_same_batch_twice_loads_it_once(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    batch = BankBatch(dataset.contract, generated_rows(6_000), rejected_rows={10, 20})
    sink = start_sink()
    await batch.send_all(producer, endpoints.manifests_topic)
    await wait_loaded(sink, batch.batch_id)
    await batch.send_all(producer, endpoints.manifests_topic)  # the producer runs again
    await wait_drained(sink, [dataset.contract.topic, dataset.contract.dlq_topic])

    assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
    rejects = await warehouse.fetchval(
        "SELECT count(*) FROM batchpipe.rejects WHERE batch_id = $1", batch.batch_id
    )
    assert rejects == 2
    metrics = sink.get("/metrics").text
    skipped = [
        line
        for line in metrics.splitlines()
        if line.startswith("batchpipe_sink_duplicate_chunks_skipped_total{")
        and dataset.contract.name in line
    ]
    assert skipped and float(skipped[0].split()[-1]) == len(batch.chunks)


async def test_crash_after_db_commit_before_offset_commit_duplicates_nothing(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    batch = BankBatch(dataset.contract, generated_rows(8_000), rejected_rows={3}, chunk_rows=500)
    crashing = start_sink("pg-sink-crash", env={"BATCHPIPE_SINK_CRASH_AFTER_DB_COMMIT": "1"})
    await batch.send_all(producer, endpoints.manifests_topic)
    exit_code = await asyncio.to_thread(crashing.proc.wait, 120)
    assert exit_code == CRASH_EXIT_CODE, crashing.log_tail()

    applied = await warehouse.fetchval(
        "SELECT count(*) FROM batchpipe.chunks WHERE batch_id = $1", batch.batch_id
    )
    assert applied > 0, "the crashing replica committed its first transaction"

    admin = admin_client(endpoints)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(dataset.group_id)
    finally:
        await admin.close()
    data_committed = sum(
        meta.offset for tp, meta in committed.items() if tp.topic == dataset.contract.topic
    )
    assert data_committed < len(batch.chunks), "offsets of the crashed transaction not committed"

    sink = start_sink("pg-sink-after")
    await wait_loaded(sink, batch.batch_id)

    assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
    chunks = await warehouse.fetchval(
        "SELECT count(*) FROM batchpipe.chunks WHERE batch_id = $1", batch.batch_id
    )
    assert chunks == len(batch.chunks)
    kept = await warehouse.fetchval(
        "SELECT count(*) FROM batchpipe.chunks WHERE batch_id = $1 AND applied_by = $2",
        batch.batch_id,
        "pg-sink-crash",
    )
    assert kept == applied, "chunks committed before the crash were skipped on redelivery"
