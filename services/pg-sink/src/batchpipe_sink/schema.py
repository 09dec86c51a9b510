"""The sink's tables: bookkeeping DDL, and raw tables reconciled with their contracts.

A raw table is created from its contract. When it exists, it is compared column by column:
contract columns the table lacks are added if they are nullable (a new contract version that
adds nullable columns); every other difference (a missing, retyped or re-constrained column)
is refused with a ``SchemaMismatch`` that says what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import asyncpg

from batchpipe_common.contracts import BATCH_ID_COLUMN, Contract
from batchpipe_common.ddl import (
    BATCH_ID_DEFAULT,
    LINEAGE_DDL,
    quote_ident,
    raw_batch_index_ddl,
    raw_table_ddl,
)

_DDL_LOCK = 0x6270_73696E6B  # pg_advisory_xact_lock key: "bpsink"


class SchemaMismatch(RuntimeError):
    """A raw table that the contract cannot load into without losing or changing data."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    pg_type: str
    not_null: bool


def bookkeeping_sql() -> str:
    return resources.files("batchpipe_sink").joinpath("sql/bookkeeping.sql").read_text()


def expected_columns(contract: Contract) -> list[ColumnSpec]:
    cols = [ColumnSpec(c.name, c.column_type.pg_type, not c.nullable) for c in contract.columns]
    for name, ddl in LINEAGE_DDL:
        pg_type = ddl.split(" NOT NULL")[0]
        cols.append(ColumnSpec(name, _canonical(pg_type), "NOT NULL" in ddl))
    return cols


def _canonical(pg_type: str) -> str:
    return {"timestamptz": "timestamp with time zone"}.get(pg_type, pg_type)


async def actual_columns(conn: asyncpg.Connection, contract: Contract) -> list[ColumnSpec] | None:
    """The table's columns, or None when it does not exist."""
    rows = await conn.fetch(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS pg_type, a.attnotnull
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        contract.raw_schema,
        contract.raw_table_name,
    )
    if not rows:
        return None
    return [ColumnSpec(r["attname"], r["pg_type"], r["attnotnull"]) for r in rows]


def plan_evolution(contract: Contract, actual: list[ColumnSpec]) -> list[ColumnSpec]:
    """Columns to add; ``SchemaMismatch`` when the difference is not purely additive."""
    expected = expected_columns(contract)
    have = {c.name: c for c in actual}
    want = {c.name for c in expected}
    problems: list[str] = []
    for name in have:
        if name not in want:
            problems.append(f"column {name!r} is in the table but not in the contract")
    to_add: list[ColumnSpec] = []
    for col in expected:
        current = have.get(col.name)
        if current is None:
            if col.not_null:
                problems.append(f"new column {col.name!r} is NOT NULL (only nullable may be added)")
            else:
                to_add.append(col)
            continue
        if current.pg_type != col.pg_type:
            problems.append(
                f"column {col.name!r} is {current.pg_type} in the table, "
                f"{col.pg_type} in the contract"
            )
        if current.not_null != col.not_null:
            table = "NOT NULL" if current.not_null else "nullable"
            wanted = "NOT NULL" if col.not_null else "nullable"
            problems.append(
                f"column {col.name!r} is {table} in the table, {wanted} in the contract"
            )
    if problems:
        raise SchemaMismatch(
            f"{contract.raw_table} does not match contract {contract.name} v{contract.version}: "
            + "; ".join(problems)
        )
    return to_add


async def ensure_bookkeeping(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
        await conn.execute(bookkeeping_sql())


async def ensure_raw_table(conn: asyncpg.Connection, contract: Contract) -> list[str]:
    """Create or evolve the contract's raw table; returns the names of added columns."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
        actual = await actual_columns(conn, contract)
        if actual is None:
            await conn.execute(raw_table_ddl(contract))
            await conn.execute(raw_batch_index_ddl(contract))
            return []
        await conn.execute(raw_batch_index_ddl(contract))
        to_add = plan_evolution(contract, actual)
        table = f"{quote_ident(contract.raw_schema)}.{quote_ident(contract.raw_table_name)}"
        if not await _has_default(conn, contract, BATCH_ID_COLUMN):
            # a table of a sink before wire format 2: its COPY of format-2 chunks needs it
            await conn.execute(
                f"ALTER TABLE {table} ALTER COLUMN {BATCH_ID_COLUMN} SET DEFAULT {BATCH_ID_DEFAULT}"
            )
        for col in to_add:
            await conn.execute(
                f"ALTER TABLE {table} ADD COLUMN {quote_ident(col.name)} {col.pg_type}"
            )
        return [c.name for c in to_add]


async def _has_default(conn: asyncpg.Connection, contract: Contract, column: str) -> bool:
    found = await conn.fetchval(
        """
        SELECT a.atthasdef
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped
        """,
        contract.raw_schema,
        contract.raw_table_name,
        column,
    )
    return bool(found)


async def table_columns(conn: asyncpg.Connection, contract: Contract) -> frozenset[str]:
    actual = await actual_columns(conn, contract)
    return frozenset(c.name for c in actual or ())
