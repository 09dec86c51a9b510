"""The uploader FastAPI app: ``uvicorn batchpipe_uploader.app:app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request

from batchpipe_common.api import create_app
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.logging import configure_logging
from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import load_settings
from batchpipe_uploader.leftovers import Leftovers
from batchpipe_uploader.routes import router
from batchpipe_uploader.settings import UploaderSettings

log = structlog.get_logger(__name__)
PROBE_TIMEOUT = 3.0


def build_app(settings: UploaderSettings | None = None) -> FastAPI:
    """The app; settings are read from the environment at start unless given (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or load_settings(UploaderSettings)
        configure_logging("uploader", config.log_format, config.log_level)
        app.state.settings = config
        app.state.contracts = ContractFolder(config.contracts_dir)
        async with s3_client(config) as s3:
            app.state.s3 = s3
            app.state.leftovers = leftovers = Leftovers()
            cleaning = asyncio.create_task(leftovers.keep_cleaning(s3))
            log.info("uploader started", inbox=str(config.inbox_dir))
            try:
                yield
            finally:
                log.info("uploader stopping", leftovers=len(leftovers))
                cleaning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cleaning

    async def readiness(request: Request) -> dict[str, bool]:
        state = request.app.state
        try:
            await asyncio.wait_for(
                state.s3.head_bucket(Bucket=state.settings.s3_bucket), PROBE_TIMEOUT
            )
            s3_ok = True
        except Exception:
            s3_ok = False
        return {"s3": s3_ok, "inbox": state.settings.inbox_dir.is_dir()}

    app = create_app(
        title="batchpipe uploader",
        description="Streams files to S3 with multipart uploads, checksummed and stored once "
        "per content (see docs/uploader.md).",
        lifespan=lifespan,
        readiness=readiness,
    )
    app.include_router(router)
    return app


app = build_app()
