"""A soak of crashes: 30 batches in a row, in each a random part of the stack SIGKILLed at a
random moment, every batch exact at the end.

Seeded (``BATCHPIPE_FAULT_SEED``; the seed is printed and written to the tally): the same seed
kills the same parts at the same points of the same batches. After each kill the killed part
is started again (``stack up``) and, when the kill took the request with it (an upload, a
run), the request is repeated, which is what an orchestrator's retry does. Each batch's
figures (victim, moment, seconds from the kill to the batch loaded) are appended to
``<state>/soak.jsonl`` for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import asyncpg
import pytest

from tests.faults.conftest import SEED, Tally
from tests.faults.crashes import kill_sink_backend, wait_postgres
from tests.faults.pipeline import (
    applied_chunks,
    assert_exact,
    finish_batch,
    run_status,
    trigger,
    upload,
    uploader_post,
    wait_run,
)
from tests.faults.stack import StackControl
from tests.producer.planted import Sample, bank_sample

BATCHES = 30
ROWS = 200_000
VICTIMS = ("sink-backend", "postgres", "kafka", "s3-producer", "pg-sink-1", "s3")
LAND_WITHIN_S = 240


async def _moment(stack: StackControl, admin_dsn: str, batch_id: str, rng: random.Random) -> str:
    """Wait for a random point of the batch: chunks sent, or chunks applied."""
    if rng.random() < 0.5:
        target = rng.randrange(1, 15)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = await asyncio.to_thread(run_status, stack.producer, batch_id)
            if status["progress"]["chunks_sent"] >= target or status["state"] != "running":
                return f"{status['progress']['chunks_sent']} chunks sent"
            await asyncio.sleep(0.02)
        return "timeout waiting for sends"
    target = rng.randrange(1, 15)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            applied = await applied_chunks(admin_dsn, batch_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            applied = -1  # PostgreSQL down or in crash recovery
        if applied >= target:
            return f"{applied} chunks applied"
        await asyncio.sleep(0.02)
    return "timeout waiting for applies"


async def _upload(stack: StackControl, sample: Sample, name: str, kill_s3: float | None) -> str:
    if kill_s3 is not None:
        request = asyncio.create_task(
            asyncio.to_thread(uploader_post, stack.uploader, sample.csv_bytes, name)
        )
        await asyncio.sleep(kill_s3)
        await asyncio.to_thread(stack.crash, "s3")
        await request  # 200 if it had finished, 502/503 otherwise: either way upload again
        await asyncio.to_thread(stack.up)
        await asyncio.to_thread(stack.wait_nothing_left_in_s3)
    stored = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, name)
    return str(stored["s3_uri"])


async def _one_batch(
    stack: StackControl, admin_dsn: str, rng: random.Random, index: int, tally: Tally
) -> dict[str, Any]:
    victim = rng.choice(VICTIMS)
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    name = f"soak-{SEED}-{index}.csv"
    s3_uri = await _upload(stack, sample, name, rng.uniform(0.02, 0.3) if victim == "s3" else None)
    batch_id = str((await asyncio.to_thread(trigger, stack.producer, s3_uri))["batch_id"])
    moment = "during the upload"
    killed_at = time.monotonic()
    if victim != "s3":
        moment = await _moment(stack, admin_dsn, batch_id, rng)
        await asyncio.sleep(rng.uniform(0, 0.2))
        killed_at = time.monotonic()
        if victim == "sink-backend":
            await kill_sink_backend(admin_dsn, rng)
            await wait_postgres(admin_dsn)
        else:
            await asyncio.to_thread(stack.crash, victim)
            await asyncio.to_thread(stack.up)
    if victim == "s3-producer":  # its run registry (in memory) died with it: trigger again
        await asyncio.to_thread(trigger, stack.producer, s3_uri)
    status = await wait_run(stack.producer, batch_id)
    if status["state"] == "failed":  # the run died with the broker: again
        await asyncio.to_thread(trigger, stack.producer, s3_uri)
    result, ledger = await asyncio.wait_for(
        finish_batch(stack.producer, stack.sink(1), admin_dsn, sample, batch_id), LAND_WITHIN_S
    )
    tally.record(f"soak: {victim} SIGKILLed", result)
    assert_exact(result, ledger)
    return {
        "seed": SEED,
        "batch": index,
        "victim": victim,
        "moment": moment,
        "run": status["state"],
        "rows": result.expected_rows,
        "recovered_s": round(time.monotonic() - killed_at, 2),
    }


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_soak_of_random_crashes(stack: StackControl, admin_dsn: str, tally: Tally) -> None:
    rng = random.Random(SEED)
    print(f"soak seed: {SEED} (BATCHPIPE_FAULT_SEED={SEED} repeats it)")
    out = stack.config.state_dir / "soak.jsonl"
    for index in range(BATCHES):
        figures = await _one_batch(stack, admin_dsn, rng, index, tally)
        with out.open("a") as lines:
            lines.write(json.dumps(figures) + "\n")
        print(figures)
