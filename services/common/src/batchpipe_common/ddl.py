"""PostgreSQL DDL derived from a dataset contract (the raw table the sink loads)."""

from __future__ import annotations

from batchpipe_common.contracts import Contract

LINEAGE_DDL = (
    ("_batch_id", "text NOT NULL"),
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
