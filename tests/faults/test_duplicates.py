"""The same file uploaded and triggered twice, two identical triggers at once, and a trigger
after the s3-producer forgot its runs (restart): one set of rows every time."""

from __future__ import annotations

import asyncio
import random

from tests.faults.conftest import Tally
from tests.faults.pipeline import (
    BANK,
    assert_exact,
    finish_batch,
    trigger,
    upload,
    verdict,
    wait_run,
)
from tests.faults.stack import StackControl
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_drained, wait_loaded

ROWS = 30_000
TOPICS = [BANK.contract.topic, BANK.contract.dlq_topic]


async def test_same_file_uploaded_and_triggered_twice(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    first = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, "twice.csv")
    second = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, "again.csv")
    assert first["deduplicated"] is False
    assert second["deduplicated"] is True
    assert second["s3_uri"] == first["s3_uri"], "one object per content, whatever the name"

    run = await asyncio.to_thread(trigger, stack.producer, first["s3_uri"])
    assert run["started"] is True
    result, ledger = await finish_batch(
        stack.producer, stack.sink(1), admin_dsn, sample, run["batch_id"]
    )
    rerun = await asyncio.to_thread(trigger, stack.producer, second["s3_uri"])
    assert rerun == {**run, "started": False, "state": "succeeded"}
    tally.record("same file uploaded and triggered twice", result)
    assert_exact(result, ledger)


async def test_two_identical_triggers_at_once(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    stored = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, "at-once.csv")
    a, b = await asyncio.gather(
        asyncio.to_thread(trigger, stack.producer, stored["s3_uri"]),
        asyncio.to_thread(trigger, stack.producer, stored["s3_uri"]),
    )
    assert a["batch_id"] == b["batch_id"]
    assert sorted([a["started"], b["started"]]) == [False, True], (a, b)
    result, ledger = await finish_batch(
        stack.producer, stack.sink(1), admin_dsn, sample, a["batch_id"]
    )
    tally.record("two identical triggers at once", result)
    assert_exact(result, ledger)


async def test_retrigger_after_producer_restart_reproduces_without_duplicates(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    stored = await asyncio.to_thread(upload, stack.uploader, sample.csv_bytes, "restart.csv")
    run = await asyncio.to_thread(trigger, stack.producer, stored["s3_uri"])
    await finish_batch(stack.producer, stack.sink(1), admin_dsn, sample, run["batch_id"])

    pid = stack.producer_pid()
    assert pid is not None
    await asyncio.to_thread(stack.kill, pid)
    await asyncio.to_thread(stack.up)  # a new s3-producer process, with an empty run registry
    again = await asyncio.to_thread(trigger, stack.producer, stored["s3_uri"])
    assert again["batch_id"] == run["batch_id"]
    assert again["started"] is True, "the new process re-runs the batch"
    status = await wait_run(stack.producer, run["batch_id"])
    assert status["state"] == "succeeded", status
    assert status["progress"]["chunks_sent"] > 0

    await wait_drained(stack.sink(1), TOPICS, timeout=180)  # the re-sent chunks are consumed
    ledger = await wait_loaded(stack.sink(1), run["batch_id"])
    result = await verdict(admin_dsn, sample, run["batch_id"], ledger)
    tally.record("re-trigger after an s3-producer restart (batch produced twice)", result)
    assert_exact(result, ledger)
