"""The sink's progress watchdog: a database connection that hangs (a TCP proxy that stops
forwarding, no error, no close) makes the replica report not ready, then not live, within its
configured limits, and it recovers by itself, exactly, when the proxy forwards again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.faults.tcp_proxy import FreezableProxy
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded, wait_until
from tests.sink.conftest import Dataset, ServiceProcess, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows

READY_AFTER_S = 3.0
LIVE_AFTER_S = 8.0
LAG_REFRESH_S = 0.5
SLACK_S = 10.0
"""Beyond a limit: one lag refresh, the readiness probe's own 3 s timeout, a loaded machine."""


@pytest.fixture
async def pg_proxy(endpoints: EndpointSettings) -> AsyncIterator[FreezableProxy]:
    target = urlsplit(endpoints.pg_dsn.get_secret_value())
    proxy = FreezableProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        proxy.thaw()
        await proxy.close()


def _through(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


async def _get(sink: ServiceProcess, path: str) -> tuple[int, dict[str, object]]:
    response = await asyncio.to_thread(sink.get, path)
    return response.status_code, response.json()


async def test_hung_database_connection_trips_the_watchdog_and_recovers(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
    pg_proxy: FreezableProxy,
) -> None:
    sink = await asyncio.to_thread(
        start_sink,
        env={
            "BATCHPIPE_PG_DSN": _through(endpoints.pg_dsn.get_secret_value(), pg_proxy.port),
            "BATCHPIPE_SINK_STALL_READY_S": str(READY_AFTER_S),
            "BATCHPIPE_SINK_STALL_LIVE_S": str(LIVE_AFTER_S),
            "BATCHPIPE_SINK_LAG_REFRESH_S": str(LAG_REFRESH_S),
            # the deadlines must not end the hang first: this test is about the net under them
            "BATCHPIPE_SINK_TRANSACTION_TIMEOUT_S": "300",
        },
    )
    first = BankBatch(dataset.contract, generated_rows(2_000, seed=1), chunk_rows=500)
    await first.send_all(producer, endpoints.manifests_topic)
    await wait_loaded(sink, first.batch_id)

    pg_proxy.freeze()
    second = BankBatch(dataset.contract, generated_rows(20_000, seed=2), chunk_rows=1000)
    await second.send_all(producer, endpoints.manifests_topic)

    async def not_ready() -> bool:
        code, body = await _get(sink, "/readyz")
        checks = body.get("checks", {})
        return code == 503 and isinstance(checks, dict) and checks.get("progress") is False

    async def not_live() -> bool:
        code, body = await _get(sink, "/healthz")
        return code == 503 and body.get("status") == "stalled"

    await wait_until(not_ready, READY_AFTER_S + SLACK_S, "the watchdog to report not ready")
    await wait_until(not_live, LIVE_AFTER_S + SLACK_S, "the watchdog to report not live")
    _code, health = await _get(sink, "/healthz")
    assert "messages behind" in str(health.get("reason")), health
    assert "stalled: reporting not live" in sink.log_tail(200)

    pg_proxy.thaw()
    await wait_loaded(sink, second.batch_id, timeout=120)

    async def healthy_again() -> bool:
        ready, _ = await _get(sink, "/readyz")
        live, _ = await _get(sink, "/healthz")
        return ready == 200 and live == 200

    await wait_until(healthy_again, 60, "the replica to be ready and live again")
    assert await raw_totals(warehouse, dataset, second.batch_id) == second.expected_sums()
    assert await duplicate_rows(warehouse, dataset) == 0
