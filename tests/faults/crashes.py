"""Crashes, not stops: SIGKILL of a PostgreSQL backend, a server or a service at a chosen moment
of a batch, and what every API answered meanwhile.

``kill_sink_backend`` kills one of the sink role's backends: PostgreSQL then ends every other
backend and runs crash recovery, as it does after any backend crash. ``ApiWatch`` polls the
sink's ledger and health endpoints in the background and keeps every status code, so that a
test can assert that an outage was answered 503, never 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx

from tests.faults.stack import StackService

SINK_ROLE = "batchpipe_sink"


@dataclass(frozen=True)
class KilledBackend:
    pid: int
    state: str
    query: str


async def _connect(admin_dsn: str, timeout: float) -> asyncpg.Connection:
    """A connection as soon as PostgreSQL accepts one again (after crash recovery)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncpg.connect(admin_dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def wait_postgres(admin_dsn: str, timeout: float = 120) -> None:
    conn = await _connect(admin_dsn, timeout)
    await conn.close()


async def kill_sink_backend(
    admin_dsn: str, rng: random.Random, timeout: float = 60
) -> KilledBackend:
    """SIGKILL one backend of the sink role, preferring one that runs a statement."""
    deadline = time.monotonic() + timeout
    while True:
        conn = await _connect(admin_dsn, timeout)
        try:
            rows = await conn.fetch(
                "SELECT pid, coalesce(state, '') AS state, left(query, 60) AS query "
                "FROM pg_stat_activity WHERE usename = $1",
                SINK_ROLE,
            )
        finally:
            await conn.close()
        busy = [r for r in rows if r["state"] != "idle"]
        pool = busy if busy and rng.random() < 0.8 else rows
        if pool:
            row = rng.choice(pool)
            with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
                os.kill(row["pid"], signal.SIGKILL)
                return KilledBackend(row["pid"], row["state"], row["query"])
        if time.monotonic() > deadline:
            raise AssertionError(f"no backend of {SINK_ROLE} to kill in {timeout}s")
        await asyncio.sleep(0.01)


@dataclass
class ApiWatch:
    """Status codes the sink's endpoints answered while the watch ran."""

    codes: Counter[tuple[str, int]] = field(default_factory=Counter)
    bodies_500: list[str] = field(default_factory=list)

    def server_errors(self) -> dict[str, int]:
        return {path: n for (path, code), n in self.codes.items() if code >= 500 and code != 503}


@contextlib.asynccontextmanager
async def watching_api(sink: StackService, batch_id: str) -> AsyncIterator[ApiWatch]:
    """Poll ``/v1/batches/{batch_id}``, ``/readyz`` and ``/healthz`` until the block ends."""
    watch = ApiWatch()
    paths = [f"/v1/batches/{batch_id}", "/readyz", "/healthz", "/v1/lag"]

    async def poll() -> None:
        async with httpx.AsyncClient(base_url=sink.url, timeout=10) as client:
            while True:
                for path in paths:
                    try:
                        response = await client.get(path)
                    except httpx.HTTPError:
                        continue  # the replica itself is down (killed): not an answer
                    label = "/v1/batches/{id}" if "batches" in path else path
                    watch.codes[(label, response.status_code)] += 1
                    if response.status_code >= 500 and response.status_code != 503:
                        watch.bodies_500.append(f"{path}: {response.text[:300]}")
                await asyncio.sleep(0.1)

    task = asyncio.create_task(poll())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_concurrent_copies(admin_dsn: str, at_least: int, timeout: float = 120) -> int:
    """Wait until ``at_least`` backends of the sink role run a COPY at the same moment."""
    conn = await _connect(admin_dsn, timeout)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            copying: int = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 "
                "AND state = 'active' AND query ILIKE 'COPY %'",
                SINK_ROLE,
            )
            if copying >= at_least:
                return copying
            await asyncio.sleep(0.005)
    finally:
        await conn.close()
    raise AssertionError(f"never saw {at_least} COPYs of {SINK_ROLE} at once in {timeout}s")
