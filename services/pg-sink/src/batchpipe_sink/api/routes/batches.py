"""``GET /v1/batches/{batch_id}``: the ledger row, expected vs loaded vs rejected;
``GET /v1/batches``: the newest batches (of one dataset).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from batchpipe_common.api import ErrorBody
from batchpipe_sink.api.deps import PoolDep
from batchpipe_sink.ledger import BatchView, batch_view, recent_batches

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.get(
    "/{batch_id}",
    response_model=BatchView,
    responses={404: {"model": ErrorBody, "description": "no manifest, chunk or reject names it"}},
)
async def get_batch(batch_id: str, pool: PoolDep) -> BatchView:
    """The batch's row of ``batchpipe.batch_status``: expected vs loaded vs rejected."""
    if "\x00" in batch_id:  # PostgreSQL text cannot hold NUL: no batch has such an id
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown batch {batch_id!r}")
    async with pool.acquire(timeout=10) as conn:
        view = await batch_view(conn, batch_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown batch {batch_id!r}")
    return view


@router.get("", response_model=list[BatchView])
async def list_batches(
    pool: PoolDep,
    dataset: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[BatchView]:
    """The newest batches that have a manifest, newest first (of ``dataset`` when given)."""
    if dataset is not None and "\x00" in dataset:  # PostgreSQL text cannot hold NUL
        return []  # and no dataset is named with one
    async with pool.acquire(timeout=10) as conn:
        return await recent_batches(conn, dataset, limit)
