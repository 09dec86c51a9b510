"""Dependencies of the sink's routes (the clients the lifespan created)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from batchpipe_sink.consumer import SinkConsumer
from batchpipe_sink.lag import LagProbe


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def get_sink(request: Request) -> SinkConsumer:
    sink: SinkConsumer = request.app.state.sink
    return sink


def get_lag_probe(request: Request) -> LagProbe:
    probe: LagProbe = request.app.state.lag
    return probe


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
SinkDep = Annotated[SinkConsumer, Depends(get_sink)]
LagProbeDep = Annotated[LagProbe, Depends(get_lag_probe)]
