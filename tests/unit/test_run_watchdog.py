"""The s3-producer's run watchdog: a run whose progress stops moving fails with the reason;
a slow run whose progress keeps moving is left alone, however long it takes in all."""

from __future__ import annotations

import asyncio
from pathlib import Path

from batchpipe_common.contracts import load_contract
from batchpipe_common.settings import REPO_ROOT
from batchpipe_common.wire import Manifest, PartitionOffsets
from batchpipe_producer.runs import Run, RunRegistry

CONTRACT = load_contract(Path(REPO_ROOT / "contracts" / "bank_transactions.yaml"))
LIMIT_S = 0.4


def _run(batch_id: str) -> Run:
    return Run(batch_id, CONTRACT, "bucket", "key.csv", "0" * 64, "csv")


def _manifest(run: Run) -> Manifest:
    return Manifest(
        batch_id=run.batch_id,
        dataset=CONTRACT.name,
        contract_version=CONTRACT.version,
        source_uri=run.source_uri,
        sha256=run.sha256,
        rows_read=0,
        rows_valid=0,
        rows_rejected=0,
        chunk_count=0,
        data=PartitionOffsets(topic=CONTRACT.topic, offsets={}),
        dlq=PartitionOffsets(topic=CONTRACT.dlq_topic, offsets={}),
    )


async def _finished(registry: RunRegistry, run: Run) -> Run:
    registry.trigger(run)
    while not run.finished:
        await asyncio.sleep(0.02)
    return run


async def test_a_run_without_progress_fails_with_the_reason() -> None:
    async def hangs(run: Run) -> Manifest:
        await asyncio.Event().wait()  # an S3 read or a Kafka send that never answers
        raise AssertionError("unreachable")

    run = await _finished(RunRegistry(hangs, 1, LIMIT_S), _run("stalled"))
    assert run.state == "failed"
    assert run.error is not None and "no progress for 0.4 s" in run.error, run.error
    assert run.cancel.is_set(), "the parsing thread is told to stop"


async def test_a_slow_run_that_keeps_moving_succeeds() -> None:
    async def slow(run: Run) -> Manifest:
        for _ in range(12):  # 1.2 s in all, three times the limit, moving every 0.1 s
            await asyncio.sleep(0.1)
            run.progress.bytes_read += 1
        return _manifest(run)

    run = await _finished(RunRegistry(slow, 1, LIMIT_S), _run("slow"))
    assert run.state == "succeeded", run.error
