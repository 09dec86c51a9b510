"""Crashes, not stops: SIGKILL of each part of the stack in the middle of a batch.

For each: the PostgreSQL backend serving the sink (killed several times in one batch, at
random moments: before, during and after a COPY, during a commit), the PostgreSQL postmaster,
the Kafka broker while the s3-producer sends and while the sink consumes, the s3-producer in a
run, and the S3 server in an upload. The only manual step is what an orchestrator does: start
the killed process again (``stack up``) and, where the killed process held the request, repeat
it. Every batch then lands exactly once (counts, sums, no duplicate lineage, ledger
``loaded``) within ``LAND_WITHIN_S`` seconds, and the sink's API never answers 500 meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import asyncpg
import pytest

from tests.faults.conftest import Tally, fault_repeats
from tests.faults.crashes import (
    kill_sink_backend,
    wait_concurrent_copies,
    wait_postgres,
    watching_api,
)
from tests.faults.pipeline import (
    applied_chunks,
    assert_exact,
    finish_batch,
    run_status,
    start_batch,
    trigger,
    upload,
    uploader_post,
    wait_chunks_sent,
    wait_run,
)
from tests.faults.stack import StackControl
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_until

ROWS = 400_000
LAND_WITHIN_S = 180
"""From the last crash (and restart) to the batch loaded exactly: the bound each test states."""
BACKEND_KILLS = 3


async def _chunks_at_least(admin_dsn: str, batch_id: str, n: int) -> None:
    async def reached() -> bool:
        try:
            return await applied_chunks(admin_dsn, batch_id) >= n
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False  # PostgreSQL down or in crash recovery

    await wait_until(reached, 120, f"{n} chunks of {batch_id} applied")


async def _produced_while_paused(stack: StackControl, sample: Any, name: str) -> str:
    """The whole batch produced while the sink is paused (a backlog), then the sink resumed."""
    await asyncio.to_thread(stack.sink(1).post_json, "/v1/pause", {})
    try:
        batch_id = await asyncio.to_thread(
            start_batch, stack.uploader, stack.producer, sample, name
        )
        status = await wait_run(stack.producer, batch_id)
        assert status["state"] == "succeeded", status
    finally:
        await asyncio.to_thread(stack.sink(1).post_json, "/v1/resume", {})
    return batch_id


async def _land(
    stack: StackControl, admin_dsn: str, sample: Any, batch_id: str, scenario: str, tally: Tally
) -> dict[str, Any]:
    started = time.monotonic()
    result, ledger = await asyncio.wait_for(
        finish_batch(stack.producer, stack.sink(1), admin_dsn, sample, batch_id), LAND_WITHIN_S
    )
    tally.record(scenario, result)
    assert_exact(result, ledger)
    assert time.monotonic() - started < LAND_WITHIN_S
    return ledger


@pytest.mark.parametrize("attempt", range(fault_repeats(1)))
async def test_sink_backend_killed_at_random_moments(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally, attempt: int
) -> None:
    """The sink's backend SIGKILLed several times in one batch; the sink recovers alone."""
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, f"backend-kill-{attempt}.csv"
    )
    killed = []
    async with watching_api(stack.sink(1), batch_id) as watch:
        for kill in range(BACKEND_KILLS):
            await _chunks_at_least(admin_dsn, batch_id, 1 + kill * 8)
            await asyncio.sleep(rng.uniform(0, 0.3))
            killed.append(await kill_sink_backend(admin_dsn, rng))
            await wait_postgres(admin_dsn)
        await _land(
            stack, admin_dsn, sample, batch_id, "sink's PostgreSQL backend SIGKILLed", tally
        )
        readyz = await asyncio.to_thread(stack.sink(1).get, "/readyz")
    assert readyz.status_code == 200, readyz.text
    assert not watch.server_errors(), (watch.server_errors(), watch.bodies_500[:3], killed)
    assert any(path == "/v1/batches/{id}" for path, _ in watch.codes), watch.codes


async def test_sink_killed_with_two_transactions_of_one_poll_in_flight(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    """Two units of one poll are applied at once (``sink_copy_connections``); the replica is
    SIGKILLed while both COPY. Neither commits, or one did: either way exactly once."""
    sample = bank_sample(1_000_000, seed=rng.randrange(1 << 30))
    # a backlog, so that polls hold many partitions (a sink that keeps up with the producer
    # takes one chunk per poll, and one partition is one transaction)
    batch_id = await _produced_while_paused(stack, sample, "two-transactions.csv")
    await wait_concurrent_copies(admin_dsn, 2)
    await asyncio.to_thread(stack.kill_sink, 1)
    await asyncio.to_thread(stack.up)
    await _land(
        stack, admin_dsn, sample, batch_id, "sink SIGKILLed with two COPY transactions open", tally
    )


async def test_postmaster_killed(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "postmaster-kill.csv"
    )
    async with watching_api(stack.sink(1), batch_id) as watch:
        await _chunks_at_least(admin_dsn, batch_id, rng.randrange(1, 20))
        await asyncio.to_thread(stack.crash, "postgres")
        await asyncio.to_thread(stack.up)
        await _land(stack, admin_dsn, sample, batch_id, "PostgreSQL postmaster SIGKILLed", tally)
    assert not watch.server_errors(), (watch.server_errors(), watch.bodies_500[:3])
    assert any(code == 503 for _, code in watch.codes), watch.codes  # the outage was seen


async def test_broker_killed_while_producing(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "broker-kill-produce.csv"
    )
    await wait_chunks_sent(stack.producer, batch_id)
    await asyncio.to_thread(stack.crash, "kafka")
    await asyncio.to_thread(stack.up)
    first = await wait_run(stack.producer, batch_id)
    if first["state"] == "failed":
        assert first["error"] and first["manifest"] is None, first
        again = await asyncio.to_thread(trigger, stack.producer, first["source_uri"])
        assert again["started"] is True
    await _land(
        stack,
        admin_dsn,
        sample,
        batch_id,
        f"Kafka broker SIGKILLed while producing (run {first['state']})",
        tally,
    )


async def test_broker_killed_while_consuming(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await _produced_while_paused(stack, sample, "broker-kill-consume.csv")
    await _chunks_at_least(admin_dsn, batch_id, rng.randrange(1, 20))
    await asyncio.to_thread(stack.crash, "kafka")
    await asyncio.to_thread(stack.up)
    await _land(stack, admin_dsn, sample, batch_id, "Kafka broker SIGKILLed while consuming", tally)


async def test_producer_killed_mid_run(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "producer-kill.csv"
    )
    await wait_chunks_sent(stack.producer, batch_id, rng.randrange(1, 10))
    source_uri = (await asyncio.to_thread(run_status, stack.producer, batch_id))["source_uri"]
    await asyncio.to_thread(stack.crash, "s3-producer")
    await asyncio.to_thread(stack.up)
    again = await asyncio.to_thread(trigger, stack.producer, source_uri)
    assert again["batch_id"] == batch_id and again["started"] is True, again
    await _land(stack, admin_dsn, sample, batch_id, "s3-producer SIGKILLed mid-run", tally)


async def test_s3_server_killed_mid_upload(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(1_000_000, seed=rng.randrange(1 << 30))
    request = asyncio.create_task(
        asyncio.to_thread(uploader_post, stack.uploader, sample.csv_bytes, "s3-kill.csv")
    )
    await asyncio.sleep(rng.uniform(0.05, 0.4))
    await asyncio.to_thread(stack.crash, "s3")
    response = await request
    if response.status_code != 200:  # the crash came before the upload completed
        assert response.status_code in (502, 503), response.text
        assert "S3" in response.json()["detail"], response.text
    await asyncio.to_thread(stack.up)  # S3 back with what it had stored
    await asyncio.to_thread(stack.wait_nothing_left_in_s3)  # the interrupted upload, aborted
    stored = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, "s3-kill.csv")
    accepted = await asyncio.to_thread(trigger, stack.producer, stored["s3_uri"])
    await _land(
        stack, admin_dsn, sample, accepted["batch_id"], "S3 server SIGKILLed mid-upload", tally
    )
