"""``GET /v1/lag``: the consumer group's lag per topic partition."""

from __future__ import annotations

from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Query, status

from batchpipe_common.api import ErrorBody
from batchpipe_sink.api.deps import LagProbeDep, SinkDep
from batchpipe_sink.lag import LagReport

router = APIRouter(prefix="/v1", tags=["lag"])


@router.get(
    "/lag",
    response_model=LagReport,
    responses={503: {"model": ErrorBody, "description": "Kafka unreachable"}},
)
async def get_lag(
    sink: SinkDep,
    probe: LagProbeDep,
    topic: Annotated[
        list[str] | None, Query(description="only these topics (default: all the sink reads)")
    ] = None,
) -> LagReport:
    """End offset, the group's committed offset and the lag of every partition."""
    try:
        return await probe.report(topic or sink.topics)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot read offsets from Kafka: {exc}"
        ) from exc
