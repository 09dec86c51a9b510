"""PostgreSQL DDL derived from a dataset contract (the raw table the sink loads)."""

from __future__ import annotations

from batchpipe_common.contracts import Contract

BATCH_ID_SETTING = "batchpipe.batch_id"
"""The session setting the sink sets (transaction-local) to the batch of the rows it copies."""
BATCH_ID_DEFAULT = f"nullif(current_setting('{BATCH_ID_SETTING}', true), '')"
"""``_batch_id``'s default: the batch the sink's transaction set. The rows on the wire do not
carry the 41-character id: parsing it on every row was 5-10% of PostgreSQL's COPY time for the
bank rows, and 40% of the bytes of a chunk. Unset, the default is NULL and NOT NULL refuses the
row: nothing loads without its batch.
"""

LINEAGE_DDL = (
    ("_batch_id", f"text NOT NULL DEFAULT {BATCH_ID_DEFAULT}"),
    ("_source_row", "bigint NOT NULL"),
    ("_loaded_at", "timestamptz NOT NULL DEFAULT now()"),
)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_ddl(contract: Contract) -> list[tuple[str, str]]:
    """(column, type and constraint) pairs: the contract's columns, then the lineage columns."""
    cols = [
        (c.name, c.column_type.pg_type + ("" if c.nullable else " NOT NULL"))
        for c in contract.columns
    ]
    return cols + list(LINEAGE_DDL)


def raw_table_ddl(contract: Contract) -> str:
    cols = ",\n    ".join(f"{quote_ident(n)} {t}" for n, t in column_ddl(contract))
    table = f"{quote_ident(contract.raw_schema)}.{quote_ident(contract.raw_table_name)}"
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n)"


def raw_batch_index_ddl(contract: Contract) -> str:
    """A BRIN index on ``_batch_id``: dbt reads one batch's rows without scanning the history.

    The sink appends a batch's rows together, so each block range holds one or a few batches;
    BRIN costs the sink's COPY next to nothing (a btree would add a write per row).
    """
    table = f"{quote_ident(contract.raw_schema)}.{quote_ident(contract.raw_table_name)}"
    index = quote_ident(f"{contract.raw_table_name}_batch_brin")
    return (
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING brin (_batch_id)"
        " WITH (autosummarize = on)"
    )
