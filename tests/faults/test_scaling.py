"""The sink scaled from 1 to 3 replicas and back to 1 while a batch flows: every rebalance
hands partitions over without losing or duplicating a row.

Starting two uvicorn replicas takes longer than a batch of this size takes to load, so the
first replica is paused (``POST /v1/pause``: it commits what it holds and parks) once it has
applied part of the batch: the rest of the batch then waits in Kafka for the new replicas and,
after scaling back, for the first one again. That makes "during a batch" certain.
"""

from __future__ import annotations

import asyncio
import random

import asyncpg
import httpx

from tests.faults.conftest import Tally
from tests.faults.pipeline import BANK, applied_chunks, assert_exact, finish_batch, start_batch
from tests.faults.stack import StackControl, StackService
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_until
from tests.sink.conftest import wait_for
from tests.support.consumer_group import group_settled

# 100 chunks, about 17 per partition: the first replica applies a few polls' worth (about one
# chunk per partition per poll) before its pause takes effect, so every partition still holds
# chunks for the new replicas. With 200,000 rows (20 chunks) a replica that got three polls in
# before pausing could drain a partition, and the new replica given it had nothing to apply.
ROWS = 1_000_000


def post(sink: StackService, path: str) -> None:
    response = httpx.post(
        f"{sink.url}{path}", headers={"Authorization": f"Bearer {sink.token}"}, timeout=120
    )
    assert response.status_code == 200, response.text


async def applied_by(admin_dsn: str, batch_id: str) -> dict[str, int]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT applied_by, count(*) AS n FROM batchpipe.chunks WHERE batch_id = $1 GROUP BY 1",
            batch_id,
        )
    finally:
        await conn.close()
    return {r["applied_by"]: r["n"] for r in rows}


async def test_scale_sink_1_to_3_to_1_during_a_batch(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    await asyncio.to_thread(stack.scale, 1)
    first = stack.sink(1)
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "scaling.csv"
    )

    async def applied(n: int) -> bool:
        return await applied_chunks(admin_dsn, batch_id) >= n

    await wait_until(lambda: applied(2), 120, "2 chunks applied by one replica")
    await asyncio.to_thread(post, first, "/v1/pause")
    try:
        await asyncio.to_thread(stack.scale, 3)
        three = [stack.sink(r) for r in (1, 2, 3)]
        await asyncio.to_thread(
            wait_for, lambda: group_settled(three, BANK.contract.topic), 120, "3 replicas assigned"
        )

        async def new_replicas_loaded() -> bool:
            workers = await applied_by(admin_dsn, batch_id)
            return {"pg-sink-2", "pg-sink-3"} <= set(workers)

        await wait_until(new_replicas_loaded, 120, "the new replicas to apply chunks")
        ledger_during = await asyncio.to_thread(first.get, f"/v1/batches/{batch_id}")
        assert ledger_during.json()["status"] != "loaded", "the first replica holds the rest"
        await asyncio.to_thread(stack.scale, 1)
        assert stack.sink_pid(2) is None and stack.sink_pid(3) is None
    finally:
        await asyncio.to_thread(post, first, "/v1/resume")

    result, ledger = await finish_batch(stack.producer, first, admin_dsn, sample, batch_id)
    tally.record("sink scaled 1 → 3 → 1 during a batch", result)
    assert_exact(result, ledger)
    workers = await applied_by(admin_dsn, batch_id)
    assert set(workers) == {"pg-sink-1", "pg-sink-2", "pg-sink-3"}
    assert sum(workers.values()) == ledger["expected"]["chunks"]
