"""The batch ledger (``batchpipe.batches``): when is a batch loaded, and what does it hold.

A batch is ``loaded`` when every chunk of its manifest is in ``batchpipe.chunks``, its rows
loaded plus the rows PostgreSQL refused equal the manifest's valid rows, and the producer's
dead letters recorded equal its rejected rows. The check runs after every transaction for the
batches it touched (after the commit, so that replicas committing concurrently are all seen by
the last one) and periodically for every batch still loading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson
from pydantic import BaseModel

_MARK_LOADED = """
UPDATE batchpipe.batches b SET status = 'loaded', loaded_at = now()
WHERE b.status = 'loading'
  AND ($1::text[] IS NULL OR b.batch_id = ANY($1::text[]))
  AND (SELECT count(*) FROM batchpipe.chunks c WHERE c.batch_id = b.batch_id) = b.chunk_count
  AND (SELECT coalesce(sum(c.rows_loaded + c.rows_rejected), 0)
       FROM batchpipe.chunks c WHERE c.batch_id = b.batch_id) = b.rows_valid
  AND (SELECT count(*) FROM batchpipe.rejects r
       WHERE r.batch_id = b.batch_id AND r.stage = 'producer') = b.rows_rejected
RETURNING b.batch_id, b.dataset, b.rows_valid, b.rows_rejected
"""

_BATCH_VIEW = """
WITH c AS (
    SELECT count(*) AS chunks, coalesce(sum(rows_loaded), 0) AS rows_loaded,
           coalesce(sum(rows_rejected), 0) AS rows_refused, min(dataset) AS dataset
    FROM batchpipe.chunks WHERE batch_id = $1
), r AS (
    SELECT count(*) FILTER (WHERE stage = 'producer') AS producer,
           count(*) FILTER (WHERE stage = 'sink') AS sink
    FROM batchpipe.rejects WHERE batch_id = $1
)
SELECT b.*, c.chunks, c.rows_loaded, c.rows_refused, c.dataset AS chunks_dataset,
       r.producer, r.sink
FROM c CROSS JOIN r LEFT JOIN batchpipe.batches b ON b.batch_id = $1
"""


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
    """Mark the given batches (all loading ones when None) loaded where complete."""
    if batch_ids is not None and not batch_ids:
        return []
    return list(await conn.fetch(_MARK_LOADED, batch_ids))


def _json(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else None


async def batch_view(conn: asyncpg.Connection, batch_id: str) -> BatchView | None:
    """The ledger row with counts, or None when no manifest, chunk or reject names it."""
    row = await conn.fetchrow(_BATCH_VIEW, batch_id)
    assert row is not None
    has_manifest = row["batch_id"] is not None
    if not has_manifest and row["chunks"] == 0 and row["producer"] == 0 and row["sink"] == 0:
        return None
    loaded = Loaded(chunks=row["chunks"], rows=row["rows_loaded"])
    rejected = Rejected(producer=row["producer"], sink=row["sink"])
    if not has_manifest:
        return BatchView(
            batch_id=batch_id,
            dataset=row["chunks_dataset"] or "",
            status="awaiting_manifest",
            loaded=loaded,
            rejected=rejected,
        )
    return BatchView(
        batch_id=batch_id,
        dataset=row["dataset"],
        status=row["status"],
        contract_version=row["contract_version"],
        source_uri=row["source_uri"],
        sha256=row["sha256"],
        expected=Expected(
            rows_read=row["rows_read"],
            rows_valid=row["rows_valid"],
            rows_rejected=row["rows_rejected"],
            chunks=row["chunk_count"],
        ),
        loaded=loaded,
        rejected=rejected,
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
