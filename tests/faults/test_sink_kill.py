"""kill -9 of a sink replica at a random point of a batch, two replicas in the group: the
survivor and the restarted replica finish the batch with exact counts."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.conftest import Tally, fault_repeats
from tests.faults.pipeline import BANK, applied_chunks, assert_exact, finish_batch, start_batch
from tests.faults.stack import StackControl
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_until
from tests.sink.conftest import wait_for
from tests.support.consumer_group import group_settled

ROWS = 120_000
CHUNK_ROWS = 10_000  # the s3-producer's default: the batch has about ROWS / CHUNK_ROWS chunks


async def kill_a_replica_mid_batch(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    await asyncio.to_thread(stack.scale, 2)
    sinks = [stack.sink(1), stack.sink(2)]
    await asyncio.to_thread(
        wait_for, lambda: group_settled(sinks, BANK.contract.topic), 120, "2 replicas assigned"
    )
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    batch_id = await asyncio.to_thread(
        start_batch, stack.uploader, stack.producer, sample, "kill.csv"
    )
    chunks = -(-len(sample.good) // CHUNK_ROWS)
    kill_after = rng.randrange(1, chunks)
    victim = rng.choice([1, 2])

    async def reached() -> bool:
        return await applied_chunks(admin_dsn, batch_id) >= kill_after

    await wait_until(reached, 120, f"{kill_after} chunks applied")
    killed = await asyncio.to_thread(stack.kill_sink, victim)
    await asyncio.to_thread(stack.up, 2)  # restarts the killed replica
    restarted = stack.sink_pid(victim)
    assert restarted is not None and restarted != killed

    survivor = stack.sink(3 - victim)
    result, ledger = await finish_batch(stack.producer, survivor, admin_dsn, sample, batch_id)
    tally.record("sink replica killed (SIGKILL) mid-batch", result)
    assert_exact(result, ledger)
    assert ledger["loaded"]["chunks"] == ledger["expected"]["chunks"]


async def test_sink_replica_killed_mid_batch(
    stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    await kill_a_replica_mid_batch(stack, admin_dsn, rng, tally)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(fault_repeats(10)))
async def test_sink_replica_killed_mid_batch_repeatedly(
    attempt: int, stack: StackControl, admin_dsn: str, rng: random.Random, tally: Tally
) -> None:
    await kill_a_replica_mid_batch(stack, admin_dsn, rng, tally)
