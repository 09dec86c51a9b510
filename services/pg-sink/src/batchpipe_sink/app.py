"""The pg-sink service: ``uvicorn batchpipe_sink.app:app``.

Assembles the app: settings, logging and clients in the lifespan, the consumer loop as a task,
one router per resource.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI, Request

from batchpipe_common import db
from batchpipe_common.api import create_app
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.db import create_pool
from batchpipe_common.logging import configure_logging
from batchpipe_common.settings import load_settings
from batchpipe_sink.api.routes import batches, consumer, lag
from batchpipe_sink.consumer import SinkConsumer
from batchpipe_sink.lag import LagProbe
from batchpipe_sink.settings import SinkSettings

log = structlog.get_logger(__name__)


async def _watch_lag(sink: SinkConsumer, probe: LagProbe, every_s: float) -> None:
    """Refresh the lag gauges and the watchdog's view of this replica's lag (Kafka only, so
    that a hung PostgreSQL cannot keep the watchdog from seeing the lag)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if sink.running:
                report = await probe.report(sink.topics)
                assigned = {(tp.topic, tp.partition) for tp in sink.assigned()}
                sink.watchdog.lag(
                    sum(p.lag for p in report.partitions if (p.topic, p.partition) in assigned)
                )
                sink.health()  # logs a change of verdict even when nobody asks
        except Exception as exc:
            log.warning("lag refresh failed", error=str(exc) or type(exc).__name__)


async def _mark_batches(sink: SinkConsumer, every_s: float) -> None:
    """Mark loaded the batches a crash left complete but unmarked."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if sink.running:
                await sink.mark_pending_batches()
        except Exception as exc:
            log.warning("marking batches failed", error=str(exc) or type(exc).__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = load_settings(SinkSettings)
    configure_logging("pg-sink", settings.log_format, settings.log_level)
    structlog.contextvars.bind_contextvars(instance=settings.instance_id)
    contracts = ContractFolder(settings.contracts_dir)
    pool = await create_pool(
        settings,
        min_size=0,
        max_size=max(settings.sink_pg_pool_size, settings.sink_copy_connections + 2),
        timeout=10,
    )
    probe = LagProbe(settings, settings.sink_group_id)
    sink = SinkConsumer(settings, contracts, pool)
    app.state.settings, app.state.pool, app.state.lag, app.state.sink = settings, pool, probe, sink
    sink.start()
    every_s = settings.sink_lag_refresh_s
    housekeeping = [
        asyncio.create_task(_watch_lag(sink, probe, every_s)),
        asyncio.create_task(_mark_batches(sink, every_s)),
    ]
    log.info(
        "pg-sink started", group_id=settings.sink_group_id, contracts=sorted(contracts.current())
    )
    try:
        yield
    finally:
        for task in housekeeping:
            task.cancel()
        await asyncio.gather(*housekeeping, return_exceptions=True)
        await sink.stop()
        await probe.close()
        await pool.close()
        log.info("pg-sink stopped")


async def _postgres_ok(request: Request) -> bool:
    try:
        async with db.bounded_connection(request.app.state.pool, 3, "readiness") as conn:
            await conn.fetchval("SELECT 1")
    except Exception:
        return False
    return True


async def readiness(request: Request) -> dict[str, bool]:
    sink: SinkConsumer = request.app.state.sink
    probe: LagProbe = request.app.state.lag
    postgres, kafka = await asyncio.gather(_postgres_ok(request), probe.ping())
    return {
        "postgres": postgres,
        "kafka": kafka,
        "contracts": not sink.refused,
        "consumer": sink.running and sink.held is None,
        "progress": sink.health().ready,
    }


async def liveness(request: Request) -> str | None:
    """Why the replica should be restarted: stalled past the watchdog's second limit."""
    sink: SinkConsumer = request.app.state.sink
    verdict = sink.health()
    return None if verdict.live else verdict.reason


app = create_app(
    title="batchpipe pg-sink",
    description=(
        "Loads chunks from Kafka into PostgreSQL raw tables with COPY, exactly once; "
        "records rejects and the batch ledger."
    ),
    lifespan=lifespan,
    readiness=readiness,
    liveness=liveness,
)
app.include_router(batches.router)
app.include_router(lag.router)
app.include_router(consumer.router)
