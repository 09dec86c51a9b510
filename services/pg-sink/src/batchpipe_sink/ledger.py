"""The batch ledger (``batchpipe.batches``): when is a batch loaded, and what does it hold.

What "done" means is written once, in the view ``batchpipe.batch_status`` (bookkeeping.sql):
a batch is marked ``loaded`` when its row there ``reconciles``. The check runs after every
transaction for the batches it touched (after the commit, so that replicas committing
concurrently are all seen by the last one) and periodically for every batch still loading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson
import structlog
from pydantic import BaseModel

from batchpipe_common.logging import bound_batch
from batchpipe_sink import metrics

log = structlog.get_logger(__name__)

# The batch ids go into the view as a restriction, so PostgreSQL reads only their rows
# (primary-key lookups in batches, chunks and rejects), however long the ledger grows.
_MARK_LOADED = """
UPDATE batchpipe.batches b SET status = 'loaded', loaded_at = now()
FROM batchpipe.batch_status s
WHERE s.batch_id = ANY($1::text[])
  AND s.batch_id = b.batch_id
  AND s.status = 'loading'
  AND s.reconciles
RETURNING b.batch_id, b.dataset, b.rows_valid, b.rows_rejected
"""

_LOADING = "SELECT batch_id FROM batchpipe.batches WHERE status = 'loading'"

_BATCH_VIEW = "SELECT * FROM batchpipe.batch_status WHERE batch_id = $1"


class Expected(BaseModel):
    rows_read: int
    rows_valid: int
    rows_rejected: int
    chunks: int


class Loaded(BaseModel):
    chunks: int
    rows: int


class Rejected(BaseModel):
    producer: int
    sink: int


class BatchView(BaseModel):
    """A batch as the ledger sees it: the manifest's promise against what has been applied."""

    batch_id: str
    dataset: str
    status: Literal["awaiting_manifest", "loading", "loaded"]
    reconciles: bool
    contract_version: int | None = None
    source_uri: str | None = None
    sha256: str | None = None
    expected: Expected | None = None
    loaded: Loaded
    rejected: Rejected
    data_offsets: dict[str, Any] | None = None
    dlq_offsets: dict[str, Any] | None = None
    manifest_at: datetime | None = None
    loaded_at: datetime | None = None


async def mark_loaded(
    conn: asyncpg.Connection, batch_ids: list[str] | None
) -> list[asyncpg.Record]:
    """Mark the given batches (all loading ones when None) loaded where they reconcile; each
    is counted and logged once, when it becomes loaded."""
    if batch_ids is None:
        batch_ids = [r["batch_id"] for r in await conn.fetch(_LOADING)]
    if not batch_ids:
        return []
    marked = list(await conn.fetch(_MARK_LOADED, batch_ids))
    for row in marked:
        metrics.BATCHES_LOADED.inc()
        with bound_batch(row["batch_id"]):
            log.info(
                "batch loaded",
                dataset=row["dataset"],
                rows_valid=row["rows_valid"],
                rows_rejected=row["rows_rejected"],
            )
    return marked


def _json(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else None


async def batch_view(conn: asyncpg.Connection, batch_id: str) -> BatchView | None:
    """The batch's row of ``batchpipe.batch_status``, or None when nothing names it."""
    row = await conn.fetchrow(_BATCH_VIEW, batch_id)
    if row is None:
        return None
    expected = (
        Expected(
            rows_read=row["rows_read"],
            rows_valid=row["rows_valid"],
            rows_rejected=row["rows_rejected"],
            chunks=row["chunk_count"],
        )
        if row["has_manifest"]
        else None
    )
    return BatchView(
        batch_id=batch_id,
        dataset=row["dataset"] or "",
        status=row["status"],
        reconciles=row["reconciles"],
        contract_version=row["contract_version"],
        source_uri=row["source_uri"],
        sha256=row["sha256"],
        expected=expected,
        loaded=Loaded(chunks=row["chunks_applied"], rows=row["rows_loaded"]),
        rejected=Rejected(producer=row["rejected_by_producer"], sink=row["rejected_by_sink"]),
        data_offsets=_json(row["data_offsets"]),
        dlq_offsets=_json(row["dlq_offsets"]),
        manifest_at=row["manifest_at"],
        loaded_at=row["loaded_at"],
    )


_RECENT = """
SELECT batch_id FROM batchpipe.batches
 WHERE ($1::text IS NULL OR dataset = $1)
 ORDER BY manifest_at DESC, batch_id
 LIMIT $2
"""


async def recent_batches(
    conn: asyncpg.Connection, dataset: str | None, limit: int
) -> list[BatchView]:
    """The newest batches with a manifest (of one dataset, or all), newest first; each as
    ``batch_view`` sees it."""
    ids = [r["batch_id"] for r in await conn.fetch(_RECENT, dataset, limit)]
    views = [await batch_view(conn, batch_id) for batch_id in ids]
    return [v for v in views if v is not None]
