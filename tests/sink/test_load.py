"""A batch goes in whole: exact rows and sums in raw, planted rejects recorded, ledger loaded."""

from __future__ import annotations

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded
from tests.sink.conftest import Dataset, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows


async def test_batch_loads_exactly_with_rejects_and_ledger(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    rows = generated_rows(12_345)
    planted = {1, 17, 500, 4_321, 12_345}
    batch = BankBatch(dataset.contract, rows, rejected_rows=planted, chunk_rows=1_000)
    sink = start_sink()

    manifest = await batch.send_all(producer, endpoints.manifests_topic)
    ledger = await wait_loaded(sink, batch.batch_id)

    count, amount, tx = await raw_totals(warehouse, dataset, batch.batch_id)
    assert (count, amount, tx) == batch.expected_sums()
    assert count == len(rows) - len(planted)
    assert ledger["expected"] == {
        "rows_read": len(rows),
        "rows_valid": manifest.rows_valid,
        "rows_rejected": len(planted),
        "chunks": manifest.chunk_count,
    }
    assert ledger["loaded"] == {"chunks": manifest.chunk_count, "rows": manifest.rows_valid}
    assert ledger["rejected"] == {"producer": len(planted), "sink": 0}
    assert ledger["loaded_at"] is not None
    rejects = await warehouse.fetch(
        "SELECT source_row, stage, errors->0->>'reason' AS reason FROM batchpipe.rejects "
        "WHERE batch_id = $1 ORDER BY source_row",
        batch.batch_id,
    )
    assert [(r["source_row"], r["stage"], r["reason"]) for r in rejects] == [
        (i, "producer", f"planted {i}") for i in sorted(planted)
    ]
    lineage = await warehouse.fetchrow(
        f"SELECT min(_source_row) AS lo, max(_source_row) AS hi, count(DISTINCT _source_row) AS n, "
        f"bool_and(_loaded_at IS NOT NULL) AS stamped FROM {dataset.contract.raw_table} "
        "WHERE _batch_id = $1",
        batch.batch_id,
    )
    assert lineage is not None
    assert (lineage["lo"], lineage["hi"], lineage["n"], lineage["stamped"]) == (
        2,
        12_344,
        count,
        True,
    )
    assert await duplicate_rows(warehouse, dataset) == 0


async def test_unknown_batch_is_404_and_pause_needs_token(start_sink: SinkFactory) -> None:
    sink = start_sink()
    assert sink.get("/v1/batches/no-such-batch").status_code == 404
    assert httpx.post(f"{sink.url}/v1/pause", timeout=10).status_code == 401
    metrics = sink.get("/metrics").text
    assert "batchpipe_sink_rows_applied_total" in metrics


async def test_dead_letter_with_nul_bytes_is_recorded(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    rows = generated_rows(50)
    rows[9] = (rows[9][0], rows[9][1], "Pu\x00ne", *rows[9][3:])
    batch = BankBatch(dataset.contract, rows, rejected_rows={10}, chunk_rows=20)
    sink = start_sink()
    await batch.send_all(producer, endpoints.manifests_topic)
    ledger = await wait_loaded(sink, batch.batch_id)
    assert ledger["rejected"] == {"producer": 1, "sink": 0}
    raw_line = await warehouse.fetchval(
        "SELECT raw_line FROM batchpipe.rejects WHERE batch_id = $1", batch.batch_id
    )
    assert raw_line is not None and "Pu\\x00ne" in raw_line


async def test_byte_cap_splits_polls_and_loses_nothing(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    sink = start_sink(env={"BATCHPIPE_SINK_POLL_MAX_BYTES": "65536"})
    sink.post("/v1/pause")
    batch = BankBatch(dataset.contract, generated_rows(12_000), {99}, chunk_rows=1000)
    assert all(33_000 < len(body) <= 65_536 for _, body in batch.chunks)
    await batch.send_all(producer, endpoints.manifests_topic)
    sink.post("/v1/resume")
    await wait_loaded(sink, batch.batch_id)

    assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
    transactions = next(
        float(line.split()[-1])
        for line in sink.get("/metrics").text.splitlines()
        if line.startswith("batchpipe_sink_transaction_seconds_count")
    )
    assert transactions >= len(batch.chunks), "at most one chunk fits the 64 KiB cap"


async def test_batches_copied_together_keep_their_own_batch_id_in_either_wire_format(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    """Format 2 rows carry no batch id (the COPY fills it from the batch the transaction set);
    format 1 rows carry it. Three batches polled together, chunks interleaved, each with the
    exact rows and sums under its own id."""
    batches = [
        BankBatch(dataset.contract, generated_rows(3_000, seed=seed), {5}, chunk_rows=250)
        for seed in (11, 12)
    ]
    batches.append(
        BankBatch(dataset.contract, generated_rows(3_000, seed=13), {6}, 250, format_version=1)
    )
    sink = start_sink()
    sink.post("/v1/pause")
    for seq in range(len(batches[0].chunks)):
        for batch in batches:
            await batch.send_chunks(producer, [seq])
    for batch in batches:
        await batch.send_dead_letters(producer)
        await batch.send_manifest(producer, endpoints.manifests_topic)
    sink.post("/v1/resume")
    for batch in batches:
        await wait_loaded(sink, batch.batch_id)
        assert await raw_totals(warehouse, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
