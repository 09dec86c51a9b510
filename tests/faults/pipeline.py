"""One file through the stack's real services, and the exact-count verdict on its batch.

``upload`` → ``trigger`` → ``wait_run`` → ``tests.sink.checks.wait_loaded``, then ``verdict``
counts what the warehouse holds for the batch against the planted sample: rows lost, rows
duplicated, rejects, ledger status. ``assert_exact`` turns the verdict into assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from batchpipe_common.contracts import load_contract
from batchpipe_common.settings import REPO_ROOT
from batchpipe_common.wire import batch_id_for
from tests.faults.stack import StackService
from tests.producer.planted import Sample
from tests.sink.checks import raw_totals, wait_loaded
from tests.sink.conftest import BANK_CONTRACT, Dataset

BANK = Dataset(load_contract(BANK_CONTRACT), REPO_ROOT / "contracts", "batchpipe-pg-sink")
DATASET = BANK.contract.name


def upload(uploader: StackService, data: bytes, file_name: str) -> dict[str, Any]:
    """Stream ``data`` to the uploader; the stored object's description."""
    response = uploader_post(uploader, data, file_name)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def uploader_post(uploader: StackService, data: bytes, file_name: str) -> httpx.Response:
    return httpx.post(
        f"{uploader.url}/v1/uploads",
        params={"dataset": DATASET, "file_name": file_name},
        content=data,
        headers={
            "Authorization": f"Bearer {uploader.token}",
            "Content-Type": "application/octet-stream",
        },
        timeout=180,
    )


def trigger(producer: StackService, s3_uri: str) -> dict[str, Any]:
    """``POST /v1/runs``; the 202 body (``batch_id``, ``started``)."""
    response = producer.post_json("/v1/runs", {"s3_uri": s3_uri, "dataset": DATASET})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def run_status(producer: StackService, batch_id: str) -> dict[str, Any]:
    response = producer.get(f"/v1/runs/{batch_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_run(producer: StackService, batch_id: str, timeout: float = 240) -> dict[str, Any]:
    """Poll the run until it is ``succeeded`` or ``failed``."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(run_status, producer, batch_id)
        if status["state"] in ("succeeded", "failed"):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {batch_id} not finished in {timeout}s: {status}")


async def wait_chunks_sent(producer: StackService, batch_id: str, at_least: int = 1) -> None:
    """Wait until the run of ``batch_id`` has sent ``at_least`` chunks."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(run_status, producer, batch_id)
        if status["progress"]["chunks_sent"] >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run of {batch_id} sent fewer than {at_least} chunks in 120 s")


async def _count(admin_dsn: str, query: str, *args: object) -> int:
    conn = await asyncpg.connect(admin_dsn)
    try:
        n: int = await conn.fetchval(query, *args)
        return n
    finally:
        await conn.close()


async def applied_chunks(admin_dsn: str, batch_id: str) -> int:
    return await _count(
        admin_dsn, "SELECT count(*) FROM batchpipe.chunks WHERE batch_id = $1", batch_id
    )


def batch_id_of(data: bytes) -> str:
    """The batch id the s3-producer will give a bank file with this content (known before the
    upload: the id is derived from the dataset, the contract version and the file's sha256)."""
    return batch_id_for(DATASET, BANK.contract.version, hashlib.sha256(data).hexdigest())


@contextlib.asynccontextmanager
async def chunk_held(admin_dsn: str, batch_id: str, chunk_seq: int) -> AsyncIterator[int]:
    """Claim chunk ``chunk_seq`` of ``batch_id`` in the ledger in a transaction left open,
    rolled back on exit; yields the holding backend's pid. A sink that claims the same chunk
    meanwhile waits on the ledger's primary key, so that chunk (and the rest of its
    transaction) cannot be applied while the claim is held: the batch stays mid-batch for as
    long as the test needs."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        claim = conn.transaction()
        await claim.start()
        await conn.execute(
            "INSERT INTO batchpipe.chunks (batch_id, chunk_seq, dataset, topic, kafka_partition,"
            " kafka_offset, first_row, row_count, rows_loaded, applied_by)"
            " VALUES ($1, $2, $3, 'held by a test', 0, 0, 0, 0, 0, 'a test')",
            batch_id,
            chunk_seq,
            DATASET,
        )
        try:
            yield conn.get_server_pid()
        finally:
            await claim.rollback()
    finally:
        await conn.close()


async def backends_waiting_for(admin_dsn: str, holder: int) -> int:
    """How many backends wait for a lock that backend ``holder`` holds (``chunk_held``'s)."""
    return await _count(
        admin_dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        holder,
    )


@dataclass(frozen=True)
class Verdict:
    """What the warehouse holds for one batch, against the sample that was sent."""

    batch_id: str
    expected_rows: int
    rows: int
    distinct_rows: int
    totals: tuple[int, Decimal, int]
    expected_totals: tuple[int, Decimal, int]
    reject_rows: list[int]
    expected_reject_rows: list[int]
    ledger_status: str

    @property
    def rows_lost(self) -> int:
        return self.expected_rows - self.distinct_rows

    @property
    def rows_duplicated(self) -> int:
        return self.rows - self.distinct_rows


def expected_totals(sample: Sample) -> tuple[int, Decimal, int]:
    good = sample.good.values()
    return (
        len(sample.good),
        sum((Decimal(v[3]) for v in good), Decimal(0)),
        sum(int(v[4]) for v in good),
    )


async def verdict(admin_dsn: str, sample: Sample, batch_id: str, ledger: dict[str, Any]) -> Verdict:
    conn = await asyncpg.connect(admin_dsn)
    try:
        counts = await conn.fetchrow(
            f"SELECT count(*) AS n, count(DISTINCT _source_row) AS d "
            f"FROM {BANK.contract.raw_table} WHERE _batch_id = $1",
            batch_id,
        )
        assert counts is not None
        totals = await raw_totals(conn, BANK, batch_id)
        rejects = await conn.fetch(
            "SELECT source_row FROM batchpipe.rejects WHERE batch_id = $1 ORDER BY 1", batch_id
        )
    finally:
        await conn.close()
    return Verdict(
        batch_id=batch_id,
        expected_rows=len(sample.good),
        rows=counts["n"],
        distinct_rows=counts["d"],
        totals=totals,
        expected_totals=expected_totals(sample),
        reject_rows=[r["source_row"] for r in rejects],
        expected_reject_rows=sorted(sample.bad),
        ledger_status=str(ledger.get("status")),
    )


def assert_exact(result: Verdict, ledger: dict[str, Any]) -> None:
    """raw = manifest valid rows, no duplicate, rejects = planted rows, ledger loaded."""
    assert result.rows_lost == 0, f"{result.rows_lost} rows lost: {result}"
    assert result.rows_duplicated == 0, f"{result.rows_duplicated} rows duplicated: {result}"
    assert result.totals == result.expected_totals
    assert result.reject_rows == result.expected_reject_rows
    assert result.ledger_status == "loaded"
    assert ledger["expected"]["rows_valid"] == result.expected_rows
    assert ledger["loaded"]["rows"] == result.expected_rows
    assert ledger["rejected"] == {"producer": len(result.expected_reject_rows), "sink": 0}


def start_batch(uploader: StackService, producer: StackService, sample: Sample, name: str) -> str:
    """Upload the sample and trigger its run; the batch id."""
    stored = upload(uploader, sample.csv_bytes, name)
    accepted = trigger(producer, stored["s3_uri"])
    batch_id: str = accepted["batch_id"]
    return batch_id


async def finish_batch(
    producer: StackService, sink: StackService, admin_dsn: str, sample: Sample, batch_id: str
) -> tuple[Verdict, dict[str, Any]]:
    """Wait for the run to succeed and the ledger to say loaded; the batch's verdict."""
    status = await wait_run(producer, batch_id)
    assert status["state"] == "succeeded", status
    ledger = await wait_loaded(sink, batch_id, timeout=240)
    return await verdict(admin_dsn, sample, batch_id, ledger), ledger
