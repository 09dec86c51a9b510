"""What ``batchpipe demo`` prints at the end: the run's summary and a preview of two marts."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from batchpipe_cli.stack.process import StackError

LAST_DAY_OF_BATCH = "(select max(transaction_date) from raw.bank_transactions where _batch_id = $1)"
MART_PREVIEWS = {
    "daily_domain_totals (the batch's last day)": (
        "select transaction_date, domain, total_amount, transaction_count, "
        "amount_per_transaction from {schema}.daily_domain_totals "
        f"where transaction_date = {LAST_DAY_OF_BATCH} "
        "order by total_amount desc limit 7"
    ),
    "monthly_location_totals (top 5 of the batch's last month)": (
        "select transaction_month, location, total_amount, transaction_count, "
        "amount_rank_in_month from {schema}.monthly_location_totals "
        f"where transaction_month = date_trunc('month', {LAST_DAY_OF_BATCH})::date "
        "order by amount_rank_in_month limit 5"
    ),
}


ROW_ORDER = (
    "uploaded_bytes",
    "deduplicated_upload",
    "rows_read",
    "rows_valid",
    "rejected_by_producer",
    "chunks",
    "rows_loaded",
    "rejected_by_sink",
    "reconciles",
)
STAGE_ORDER = ("upload", "produce", "sink", "dbt", "reconcile")


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"batch {summary['batch_id']}")
    table.add_column("stage / count")
    table.add_column("value", justify="right")
    rows, durations = summary.get("rows", {}), summary.get("durations", {})
    for key in (k for k in ROW_ORDER if k in rows):
        table.add_row(key.replace("_", " "), _cell(rows[key]))
    for stage in (s for s in STAGE_ORDER if s in durations):
        table.add_row(f"{stage} (seconds)", f"{durations[stage]:,.1f}")
    console.print(table)
    console.print(summary.get("reconciliation", ""), highlight=False)


async def _fetch(dsn: str, schema: str, batch_id: str) -> dict[str, list[asyncpg.Record]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            title: await conn.fetch(sql.format(schema=schema), batch_id)
            for title, sql in MART_PREVIEWS.items()
        }
    finally:
        await conn.close()


def _fetch_or_explain(dsn: str, schema: str, batch_id: str) -> dict[str, list[asyncpg.Record]]:
    """The previews' rows; a PostgreSQL that refuses becomes one line saying what to check."""
    try:
        return asyncio.run(_fetch(dsn, schema, batch_id))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = urlsplit(dsn)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise StackError(
            f"PostgreSQL at {where.hostname}:{where.port} refused the mart preview as "
            f"{where.username} ({type(exc).__name__}: {first_line}); check that it runs "
            "(`batchpipe stack status`) and that dbt built the marts"
        ) from exc


def print_mart_previews(console: Console, dsn: str, schema: str, batch_id: str) -> None:
    """Two marts, limited to the period the batch covers; ``StackError`` when PostgreSQL
    cannot be read."""
    for title, rows in _fetch_or_explain(dsn, schema, batch_id).items():
        table = Table(title=f"{schema}.{title}")
        if not rows:
            console.print(f"{schema}.{title}: no rows")
            continue
        for column in rows[0].keys():  # noqa: SIM118 - a Record iterates its values
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        console.print(table)
