"""Reading the sink's ledger through its one batch-status view, ``batchpipe.batch_status``.

``reconcile`` states the promise the pipeline makes for one batch: every row the producer
read is either loaded into the raw table or recorded as rejected (by the producer or the
sink), and the ledger agrees with the manifest. The rule itself lives in the view (the sink's
bookkeeping.sql); this module only reads its verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LEDGER_SQL = """
select rows_read, rows_valid, rows_rejected, chunk_count, status, reconciles,
       rows_loaded, chunks_applied, rejected_by_producer, rejected_by_sink
  from batchpipe.batch_status
 where batch_id = %(batch_id)s and has_manifest
"""


@dataclass(frozen=True)
class LedgerRow:
    batch_id: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    chunk_count: int
    status: str
    reconciles: bool
    rows_loaded: int
    chunks_applied: int
    rejected_by_producer: int
    rejected_by_sink: int

    @property
    def rejected(self) -> int:
        return self.rejected_by_producer + self.rejected_by_sink

    def explain(self) -> str:
        verdict = "reconciles" if self.reconciles else "DOES NOT reconcile"
        return (
            f"batch {self.batch_id} {verdict}: rows read {self.rows_read:,} = loaded "
            f"{self.rows_loaded:,} + rejected {self.rejected:,} (producer "
            f"{self.rejected_by_producer:,}, sink {self.rejected_by_sink:,}) -> "
            f"{self.rows_loaded + self.rejected:,}; manifest rejects {self.rows_rejected:,}; "
            f"chunks applied {self.chunks_applied:,} of {self.chunk_count:,}; "
            f"ledger status {self.status}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rejected": self.rejected}


def read_ledger(conn_id: str, batch_id: str) -> LedgerRow | None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    with hook.get_conn() as conn, conn.cursor() as cur:
        cur.execute(LEDGER_SQL, {"batch_id": batch_id})
        row = cur.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cur.description]
    values = dict(zip(names, row, strict=True))
    return LedgerRow(
        batch_id=batch_id,
        status=str(values.pop("status")),
        reconciles=bool(values.pop("reconciles")),
        **{k: int(v) for k, v in values.items()},
    )
