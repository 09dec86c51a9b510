"""Servers restarted under load: the Kafka broker while the s3-producer sends, PostgreSQL
while the sink writes. Either the run survives or a re-trigger of the same object completes,
and the batch ends loaded exactly once; the broker's outage leaves a readable log, not tens
of thousands of aiokafka reconnect lines."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx

from tests.faults.conftest import Tally
from tests.faults.pipeline import (
    applied_chunks,
    assert_exact,
    finish_batch,
    start_batch,
    trigger,
    wait_chunks_sent,
    wait_run,
)
from tests.faults.stack import StackControl, StackService
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_until

ROWS = 300_000
# aiokafka lines one broker restart may leave in a service's log: each distinct message
# once per RepeatedMessageFilter window, with its count (unfiltered: ~50,000 in 11 s)
KAFKA_CLIENT_LINES_PER_RESTART = 200


def _kafka_client_lines(log_path: Path, since: int) -> int:
    with log_path.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    count = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("logger", "")).startswith("aiokafka"):
            count += 1
    return count


async def test_kafka_restart_while_the_producer_sends(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "kafka-restart.csv"
    )
    await wait_chunks_sent(stack.producer, batch_id)
    log_offset = stack.producer.log_path.stat().st_size
    await asyncio.to_thread(stack.stop_kafka)
    await asyncio.to_thread(stack.start_kafka)

    first = await wait_run(stack.producer, batch_id)
    if first["state"] == "failed":
        assert first["error"], first  # a reason, not an empty failure
        assert first["manifest"] is None
    again = await asyncio.to_thread(trigger, stack.producer, first["source_uri"])
    assert again["batch_id"] == batch_id
    assert again["started"] is (first["state"] == "failed")

    result, ledger = await finish_batch(stack.producer, stack.sink(1), admin_dsn, sample, batch_id)
    tally.record(f"Kafka broker restarted while producing (run {first['state']})", result)
    assert_exact(result, ledger)
    noise = _kafka_client_lines(stack.producer.log_path, log_offset)
    assert noise <= KAFKA_CLIENT_LINES_PER_RESTART, (
        f"{noise} aiokafka lines in {stack.producer.log_path} for one broker restart"
    )


def _consumer_state(sink: StackService) -> dict[str, Any]:
    try:
        response = sink.get("/v1/consumer")
    except httpx.HTTPError:
        return {}
    return dict(response.json()) if response.status_code == 200 else {}


async def test_postgres_restart_while_the_sink_writes(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "postgres-restart.csv"
    )

    async def writing() -> bool:
        return await applied_chunks(admin_dsn, batch_id) >= 2

    await wait_until(writing, 120, "the sink to apply chunks")
    await asyncio.to_thread(stack.stop_postgres)
    sinks = [stack.sink(r) for r in range(1, stack.config.sink_replicas + 1)]

    async def held() -> bool:
        states = [await asyncio.to_thread(_consumer_state, s) for s in sinks]
        return any(str(s.get("held") or "").startswith("postgres") for s in states)

    try:
        await wait_until(held, 90, "a sink replica to hold its batch on PostgreSQL")
        readiness = await asyncio.to_thread(sinks[0].get, "/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["postgres"] is False
    finally:
        await asyncio.to_thread(stack.start_postgres)

    result, ledger = await finish_batch(stack.producer, sinks[0], admin_dsn, sample, batch_id)
    tally.record("PostgreSQL restarted while the sink writes", result)
    assert_exact(result, ledger)
    for sink in sinks:
        await wait_until(lambda s=sink: asyncio.to_thread(s.ready), 60, f"{sink.name} ready again")
