"""``GET /v1/consumer``, ``POST /v1/pause`` and ``POST /v1/resume``: the consumer's state."""

from __future__ import annotations

from fastapi import APIRouter

from batchpipe_common.api import AUTH_RESPONSES, RequireToken
from batchpipe_sink.api.deps import SinkDep
from batchpipe_sink.state import ConsumerState

router = APIRouter(prefix="/v1", tags=["consumer"])


@router.get("/consumer", response_model=ConsumerState)
async def get_consumer(sink: SinkDep) -> ConsumerState:
    """Group, assignment, paused or held (and why), refused contracts."""
    return sink.state()


@router.post(
    "/pause",
    response_model=ConsumerState,
    dependencies=[RequireToken],
    responses=AUTH_RESPONSES,
)
async def pause(sink: SinkDep) -> ConsumerState:
    """Stop consuming once the in-flight transaction is committed (offsets included)."""
    return await sink.pause()


@router.post(
    "/resume",
    response_model=ConsumerState,
    dependencies=[RequireToken],
    responses=AUTH_RESPONSES,
)
async def resume(sink: SinkDep) -> ConsumerState:
    """Consume again."""
    return sink.resume()
