"""Fixtures of the fault tests: the local stack under control, restored after every test.

The tests stop and kill the stack's own servers and services, so they must not share the
stack with tests running concurrently (pytest runs them serially). Each test leaves the stack
as ``batchpipe stack up`` leaves it: every part running and ready, the session's sink replica
count. Verdicts (rows lost / duplicated per scenario) are appended to
``<state>/fault-tally.jsonl`` for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.pipeline import Verdict
from tests.faults.stack import StackControl
from tests.sink.conftest import (  # noqa: F401 - the sink tests' fixtures, for test_watchdog
    dataset,
    producer,
    start_sink,
    warehouse,
)

SEED = int(os.environ.get("BATCHPIPE_FAULT_SEED", random.randrange(1 << 30)))


def fault_repeats(default: int = 1) -> int:
    """How many times a repeated scenario runs (``BATCHPIPE_FAULT_REPEATS``)."""
    return int(os.environ.get("BATCHPIPE_FAULT_REPEATS", default))


@pytest.fixture(scope="session")
def control(stack_env: dict[str, str]) -> StackControl:
    return StackControl(stack_env["BATCHPIPE_API_TOKEN"])


@pytest.fixture
async def stack(control: StackControl) -> AsyncIterator[StackControl]:
    """The stack, healthy before the test and made healthy again after it."""
    await asyncio.to_thread(control.restore)
    try:
        yield control
    finally:
        await asyncio.to_thread(control.restore)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A random source per test, reproducible with ``BATCHPIPE_FAULT_SEED``."""
    return random.Random(f"{SEED}:{request.node.nodeid}")


class Tally:
    """Appends one line per verdict: scenario, batch, rows lost and duplicated."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, scenario: str, result: Verdict) -> None:
        line = {
            "scenario": scenario,
            "seed": SEED,
            "batch_id": result.batch_id,
            "rows": result.expected_rows,
            "rows_lost": result.rows_lost,
            "rows_duplicated": result.rows_duplicated,
            "rejects": len(result.reject_rows),
            "ledger": result.ledger_status,
        }
        with self.path.open("a") as out:
            out.write(json.dumps(line) + "\n")


@pytest.fixture(scope="session")
def tally(control: StackControl) -> Tally:
    return Tally(control.config.state_dir / "fault-tally.jsonl")
