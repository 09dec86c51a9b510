"""A corpus of bad files through the stack's real uploader, s3-producer and sink: each gets
its documented outcome, and every service stays healthy."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.conftest import SEED, Tally
from tests.faults.corpus import BadFile, FailsRun, corpus
from tests.faults.pipeline import assert_exact, trigger, upload, verdict, wait_run
from tests.faults.stack import StackControl
from tests.sink.checks import wait_loaded

CORPUS = corpus(SEED)


@pytest.mark.parametrize("bad", CORPUS, ids=[b.kind for b in CORPUS])
async def test_bad_file_gets_its_documented_outcome(
    bad: BadFile, stack: StackControl, admin_dsn: str, tally: Tally
) -> None:
    stored = await asyncio.to_thread(upload, stack.uploader, bad.data, bad.file_name)
    accepted = await asyncio.to_thread(trigger, stack.producer, stored["s3_uri"])
    status = await wait_run(stack.producer, accepted["batch_id"])

    if isinstance(bad.outcome, FailsRun):
        assert status["state"] == "failed", status
        assert bad.outcome.reason in status["error"], status["error"]
        assert status["manifest"] is None
        found = stack.sink(1).get(f"/v1/batches/{accepted['batch_id']}")
        assert found.status_code == 404 or found.json()["status"] != "loaded"
    else:
        assert status["state"] == "succeeded", status
        sample = bad.outcome.sample
        manifest = status["manifest"]
        assert manifest["rows_read"] == sample.rows_read
        assert manifest["rows_rejected"] == len(sample.bad)
        ledger = await wait_loaded(stack.sink(1), accepted["batch_id"])
        result = await verdict(admin_dsn, sample, accepted["batch_id"], ledger)
        tally.record(f"bad file: {bad.kind}", result)
        assert_exact(result, ledger)

    services = [stack.uploader, stack.producer, stack.sink(1)]
    assert all(s.ready() for s in services), "every service is still ready"
