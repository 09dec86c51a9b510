"""Reading the sink's ledger (``batchpipe.batches``, ``batchpipe.chunks``, ``batchpipe.rejects``).

``reconcile`` states the promise the pipeline makes for one batch: every row the producer
read is either loaded into the raw table or recorded as rejected (by the producer or the
sink), and the ledger agrees with the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LEDGER_SQL = """
select b.rows_read, b.rows_valid, b.rows_rejected, b.chunk_count, b.status,
       coalesce((select sum(c.rows_loaded) from batchpipe.chunks c
                 where c.batch_id = b.batch_id), 0) as rows_loaded,
       coalesce((select count(*) from batchpipe.chunks c
                 where c.batch_id = b.batch_id), 0) as chunks_applied,
       (select count(*) from batchpipe.rejects r
         where r.batch_id = b.batch_id and r.stage = 'producer') as rejected_by_producer,
       (select count(*) from batchpipe.rejects r
         where r.batch_id = b.batch_id and r.stage = 'sink') as rejected_by_sink
  from batchpipe.batches b
 where b.batch_id = %(batch_id)s
"""


@dataclass(frozen=True)
class LedgerRow:
    batch_id: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    chunk_count: int
    status: str
    rows_loaded: int
    chunks_applied: int
    rejected_by_producer: int
    rejected_by_sink: int

    @property
    def rejected(self) -> int:
        return self.rejected_by_producer + self.rejected_by_sink

    @property
    def reconciles(self) -> bool:
        return (
            self.rows_loaded + self.rejected == self.rows_read
            and self.chunks_applied == self.chunk_count
            and self.rejected_by_producer == self.rows_rejected
        )

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
        return {**asdict(self), "rejected": self.rejected, "reconciles": self.reconciles}


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
        **{k: int(v) for k, v in values.items()},
    )
