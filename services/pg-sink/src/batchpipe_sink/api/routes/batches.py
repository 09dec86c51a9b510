"""``GET /v1/batches/{batch_id}``: the ledger row, expected vs loaded vs rejected."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from batchpipe_common.api import ErrorBody
from batchpipe_sink.api.deps import PoolDep
from batchpipe_sink.ledger import BatchView, batch_view

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
