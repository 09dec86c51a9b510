"""Assertions' building blocks: wait for the ledger, read totals and duplicates from raw."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import asyncpg

from tests.sink.conftest import Dataset
from tests.support.services import HttpService


async def wait_loaded(sink: HttpService, batch_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /v1/batches/{id}`` until the ledger says loaded."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await asyncio.to_thread(sink.get, f"/v1/batches/{batch_id}")
        if response.status_code == 200:
            body = response.json()
            if body["status"] == "loaded":
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"batch {batch_id} not loaded in {timeout}s: {body}\n{sink.log_tail()}")


async def raw_totals(
    conn: asyncpg.Connection, dataset: Dataset, batch_id: str
) -> tuple[int, Decimal, int]:
    row = await conn.fetchrow(
        f"SELECT count(*) AS n, sum(total_amount) AS amount, sum(transaction_count) AS tx "
        f"FROM {dataset.contract.raw_table} WHERE _batch_id = $1",
        batch_id,
    )
    assert row is not None
    return row["n"], row["amount"] or Decimal(0), row["tx"] or 0


async def duplicate_rows(conn: asyncpg.Connection, dataset: Dataset) -> int:
    dupes: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT _batch_id, _source_row FROM {dataset.contract.raw_table} "
        "GROUP BY 1, 2 HAVING count(*) > 1) d"
    )
    return dupes


async def wait_drained(
    sink: HttpService, topics: list[str], timeout: float = 120
) -> dict[str, Any]:
    """Poll ``GET /v1/lag`` until the group's lag on ``topics`` is zero."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await asyncio.to_thread(sink.get, "/v1/lag", topic=topics)
        if response.status_code == 200:
            body = response.json()
            if body["total_lag"] == 0:
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"lag not drained in {timeout}s: {body}")


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Await the async ``predicate`` until it is true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
