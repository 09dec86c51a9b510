"""PostgreSQL unavailable: the sink holds its batch, reports unready, commits no offset, and
loads the batch exactly once when PostgreSQL accepts it again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded, wait_until
from tests.sink.conftest import Dataset, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows


@pytest.fixture
async def sink_role_locked_out(warehouse: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """Lets the test shut the sink's role out of PostgreSQL; always lets it back in."""
    try:
        yield warehouse
    finally:
        await warehouse.execute("ALTER ROLE batchpipe_sink LOGIN")


async def test_postgres_outage_holds_then_loads_exactly(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    sink_role_locked_out: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    admin = sink_role_locked_out
    sink = start_sink()
    await admin.execute("ALTER ROLE batchpipe_sink NOLOGIN")
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'batchpipe_sink'"
    )
    batch = BankBatch(dataset.contract, generated_rows(3_000), {42}, chunk_rows=300)
    await batch.send_all(producer, endpoints.manifests_topic)

    async def held() -> bool:
        state = sink.get("/v1/consumer").json()
        return bool(state["held"]) and state["held"].startswith("postgres")

    await wait_until(held, 60, "the sink to hold its batch")
    readiness = sink.get("/readyz")
    assert readiness.status_code == 503
    assert readiness.json()["checks"]["postgres"] is False
    lag = sink.get("/v1/lag", topic=[dataset.contract.topic]).json()
    assert lag["total_lag"] == len(batch.chunks), "no offset committed while PostgreSQL is down"

    await admin.execute("ALTER ROLE batchpipe_sink LOGIN")
    await wait_loaded(sink, batch.batch_id, timeout=120)
    assert sink.ready()
    assert await raw_totals(admin, dataset, batch.batch_id) == batch.expected_sums()
    assert await duplicate_rows(admin, dataset) == 0
