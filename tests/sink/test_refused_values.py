"""A chunk with values PostgreSQL refuses: the good rows load, the bad rows land in rejects."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded
from tests.sink.conftest import Dataset, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows

OUT_OF_RANGE_COUNT = 100  # source row whose transaction_count overflows integer
IMPOSSIBLE_DATE = 2_345  # source row dated February 30th
QUOTED_NEWLINE = 101  # a good row whose location holds a quoted line feed and a comma


async def test_refused_values_are_isolated_and_recorded(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    rows = generated_rows(5_000)
    r = rows[OUT_OF_RANGE_COUNT - 1]
    rows[OUT_OF_RANGE_COUNT - 1] = (*r[:4], "99999999999")
    r = rows[IMPOSSIBLE_DATE - 1]
    rows[IMPOSSIBLE_DATE - 1] = ("2022-02-30", *r[1:])
    r = rows[QUOTED_NEWLINE - 1]
    rows[QUOTED_NEWLINE - 1] = (r[0], r[1], 'Navi\n"Mumbai", east', *r[3:])
    batch = BankBatch(dataset.contract, rows, rejected_rows={4_999}, chunk_rows=1_000)
    sink = start_sink()

    await batch.send_all(producer, endpoints.manifests_topic)
    ledger = await wait_loaded(sink, batch.batch_id)

    refused = {OUT_OF_RANGE_COUNT, IMPOSSIBLE_DATE}
    good = [(i, row) for i, row in batch.valid if i not in refused]
    expected = (
        len(good),
        sum((Decimal(row[3]) for _, row in good), Decimal(0)),
        sum(int(row[4]) for _, row in good),
    )
    assert await raw_totals(warehouse, dataset, batch.batch_id) == expected
    assert await duplicate_rows(warehouse, dataset) == 0
    location = await warehouse.fetchval(
        f"SELECT location FROM {dataset.contract.raw_table} "
        "WHERE _batch_id = $1 AND _source_row = $2",
        batch.batch_id,
        QUOTED_NEWLINE,
    )
    assert location == 'Navi\n"Mumbai", east'

    rejects = await warehouse.fetch(
        "SELECT source_row, stage, raw_line, errors FROM batchpipe.rejects "
        "WHERE batch_id = $1 AND stage = 'sink' ORDER BY source_row",
        batch.batch_id,
    )
    assert [r["source_row"] for r in rejects] == sorted(refused)
    by_row = {r["source_row"]: r for r in rejects}
    count_reject = by_row[OUT_OF_RANGE_COUNT]
    assert "out of range for type integer" in count_reject["errors"]
    assert count_reject["raw_line"] == ",".join(
        (*rows[OUT_OF_RANGE_COUNT - 1], str(OUT_OF_RANGE_COUNT))
    )
    assert '"column": "transaction_count"' in count_reject["errors"]
    assert "date/time field value out of range" in by_row[IMPOSSIBLE_DATE]["errors"]

    assert ledger["rejected"] == {"producer": 1, "sink": 2}
    assert ledger["loaded"]["rows"] == len(good)
    assert ledger["expected"]["rows_valid"] == len(good) + 2
    chunk_rows = await warehouse.fetch(
        "SELECT rows_loaded, rows_rejected FROM batchpipe.chunks "
        "WHERE batch_id = $1 AND rows_rejected > 0",
        batch.batch_id,
    )
    assert sorted((r["rows_loaded"], r["rows_rejected"]) for r in chunk_rows) == [
        (999, 1),
        (999, 1),
    ]
