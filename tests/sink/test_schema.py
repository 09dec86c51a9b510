"""Raw tables follow their contracts: nullable columns are added, anything else is refused."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from batchpipe_sink.loader import SET_BATCH
from batchpipe_sink.schema import SchemaMismatch, actual_columns, ensure_raw_table
from tests.sink.conftest import Dataset, SinkFactory, wait_for, write_contract
from tests.sink.wire_producer import BankBatch, generated_rows

NULLABLE_COLUMN = """  - source: Channel
    name: channel
    type: text
    nullable: true
"""
NOT_NULL_COLUMN = NULLABLE_COLUMN.replace("nullable: true", "nullable: false")


@pytest.fixture
async def sink_conn(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack_env["BATCHPIPE_PG_DSN"])
    try:
        yield conn
    finally:
        await conn.close()


async def test_new_nullable_column_is_added_other_changes_refused(
    sink_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    name = f"bt_{uuid.uuid4().hex[:10]}"
    v1 = write_contract(tmp_path / "v1", name)
    assert await ensure_raw_table(sink_conn, v1) == []
    assert await ensure_raw_table(sink_conn, v1) == [], "idempotent"

    v2 = write_contract(tmp_path / "v2", name, extra_columns=NULLABLE_COLUMN)
    assert await ensure_raw_table(sink_conn, v2) == ["channel"]
    cols = await actual_columns(sink_conn, v2)
    assert cols is not None and ("channel", "text", False) in [
        (c.name, c.pg_type, c.not_null) for c in cols
    ]

    v3 = write_contract(
        tmp_path / "v3",
        f"{name}",
        extra_columns=NOT_NULL_COLUMN.replace("channel", "region").replace("Channel", "Region"),
    )
    with pytest.raises(SchemaMismatch, match="'region' is NOT NULL"):
        await ensure_raw_table(sink_conn, v3)

    retyped = write_contract(tmp_path / "v4", name, extra_columns=NULLABLE_COLUMN)
    await sink_conn.execute(
        f"ALTER TABLE {retyped.raw_table} ALTER COLUMN channel TYPE integer USING NULL"
    )
    with pytest.raises(SchemaMismatch, match="'channel' is integer in the table, text"):
        await ensure_raw_table(sink_conn, retyped)

    with pytest.raises(SchemaMismatch, match="'channel' is in the table but not in the contract"):
        await ensure_raw_table(sink_conn, v1)


async def test_batch_id_comes_from_the_transaction_and_an_older_table_gets_the_default(
    sink_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """Wire format 2 rows carry no batch id: the COPY fills ``_batch_id`` from the setting the
    sink's transaction made; without it the row is refused, never loaded without its batch.
    A table made before format 2 (no default) gets the default when the sink ensures it."""
    contract = write_contract(tmp_path, f"bt_{uuid.uuid4().hex[:10]}")
    assert await ensure_raw_table(sink_conn, contract) == []
    table = contract.raw_table
    await sink_conn.execute(f"ALTER TABLE {table} ALTER COLUMN _batch_id DROP DEFAULT")
    assert await ensure_raw_table(sink_conn, contract) == []
    columns = [*contract.column_names, "_source_row"]

    async def copy_one_row() -> None:
        await sink_conn.copy_to_table(
            contract.raw_table_name,
            schema_name=contract.raw_schema,
            columns=columns,
            source=io.BytesIO(b"2024-01-31,RETAIL,Pune,10.50,3,1\n"),
            format="csv",
        )

    async with sink_conn.transaction():
        await sink_conn.execute(SET_BATCH, "batch-a")
        await copy_one_row()
    assert await sink_conn.fetchval(f"SELECT _batch_id FROM {table}") == "batch-a"
    with pytest.raises(asyncpg.NotNullViolationError, match="_batch_id"):
        await copy_one_row()  # the setting was the transaction's only
    await sink_conn.execute(f"DROP TABLE {table}")


async def test_sink_refuses_a_contract_its_table_contradicts(
    dataset: Dataset, start_sink: SinkFactory, sink_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    newer = write_contract(tmp_path / "newer", dataset.contract.name, extra_columns=NULLABLE_COLUMN)
    await ensure_raw_table(sink_conn, newer)  # the table already has a column v1 lacks

    sink = start_sink(wait=False)
    wait_for(sink.answers, 60, "sink answering")
    wait_for(lambda: bool(sink.get("/v1/consumer").json()["refused_contracts"]), 60, "refusal")
    state = sink.get("/v1/consumer").json()
    assert (
        "'channel' is in the table but not in the contract"
        in (state["refused_contracts"][dataset.contract.name])
    )
    readiness = sink.get("/readyz")
    assert readiness.status_code == 503 and readiness.json()["checks"]["contracts"] is False
    assert "batchpipe_sink_contracts_refused 1.0" in sink.get("/metrics").text
    assert not any(p.startswith(dataset.contract.topic) for p in state["assignment"])


async def test_a_chunk_of_a_newer_contract_holds_its_poll_and_the_loop_lives(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    endpoints: EndpointSettings,
    tmp_path: Path,
) -> None:
    """Its columns are unknown to the sink's contract: the poll is held with the reason and
    retried (no offset committed), the consumer loop keeps running, nothing is dropped."""
    newer = write_contract(tmp_path / "newer", dataset.contract.name, extra_columns=NULLABLE_COLUMN)
    sink = start_sink()
    rows = [(*r, "web") for r in generated_rows(300)]
    batch = BankBatch(newer, rows, chunk_rows=100)
    await batch.send_all(producer, endpoints.manifests_topic)

    def held() -> bool:
        state = sink.get("/v1/consumer").json()
        return bool(state["held"]) and "deploy the sink with the newer contract" in state["held"]

    wait_for(held, 60, "the poll to be held with the reason")
    state = sink.get("/v1/consumer").json()
    assert state["running"] is True, state
    assert state["held"].startswith("UnknownColumns"), state
    lag = sink.get("/v1/lag", topic=[dataset.contract.topic]).json()
    assert lag["total_lag"] == len(batch.chunks), "no offset committed for the held poll"
