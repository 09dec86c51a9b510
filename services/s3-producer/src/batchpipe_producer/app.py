"""The s3-producer FastAPI app: ``uvicorn batchpipe_producer.app:app``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI, Request

from batchpipe_common.api import create_app
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.kafka import reliable_producer
from batchpipe_common.logging import configure_logging
from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import load_settings
from batchpipe_producer.pipeline import Pipeline
from batchpipe_producer.routes import router
from batchpipe_producer.runs import RunRegistry
from batchpipe_producer.settings import ProducerSettings

log = structlog.get_logger(__name__)
PROBE_TIMEOUT = 3.0
GIL_SWITCH_INTERVAL_S = 0.001
"""How long the parsing thread may hold the GIL while the event loop waits for it (Python's
default: 5 ms). The loop gives the GIL up for every socket call and every zstd compression, and
waited up to 5 ms to get it back each time: compressing a run's chunks took 4x its CPU time."""


def build_app(settings: ProducerSettings | None = None) -> FastAPI:
    """The app; settings are read from the environment at start unless given (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or load_settings(ProducerSettings)
        configure_logging("s3-producer", config.log_format, config.log_level)
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        app.state.settings = config
        app.state.contracts = ContractFolder(config.contracts_dir)
        app.state.topics_ready = set()
        async with AsyncExitStack() as stack:
            app.state.s3 = await stack.enter_async_context(s3_client(config))
            producer = reliable_producer(config, compression_type=config.producer_compression)
            await producer.start()
            stack.push_async_callback(producer.stop)
            app.state.producer = producer
            registry = RunRegistry(
                Pipeline(config, app.state.s3, producer),
                config.producer_max_concurrent_runs,
                config.producer_stall_timeout_s,
            )
            app.state.registry = registry
            log.info("s3-producer started", datasets=sorted(app.state.contracts.current()))
            try:
                yield
            finally:
                log.info("s3-producer stopping")
                await registry.shutdown(config.producer_shutdown_grace_seconds)

    async def readiness(request: Request) -> dict[str, bool]:
        state = request.app.state
        return {
            "s3": await _probe(state.s3.head_bucket(Bucket=state.settings.s3_bucket)),
            "kafka": await _probe(state.producer.client.fetch_all_metadata()),
        }

    app = create_app(
        title="batchpipe s3-producer",
        description="Streams S3 objects into Kafka as validated chunks, dead letters and a "
        "manifest (see docs/s3-producer.md and docs/wire-format.md).",
        lifespan=lifespan,
        readiness=readiness,
    )
    app.include_router(router)
    return app


async def _probe(call: object) -> bool:
    try:
        await asyncio.wait_for(call, PROBE_TIMEOUT)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


app = build_app()
