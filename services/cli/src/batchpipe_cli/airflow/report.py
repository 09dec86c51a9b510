"""What ``batchpipe demo`` prints at the end: the run's summary and a preview of two marts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

MART_PREVIEWS = {
    "daily_domain_totals (latest day)": (
        "select transaction_date, domain, total_amount, transaction_count, "
        "amount_per_transaction from {schema}.daily_domain_totals "
        "where transaction_date = (select max(transaction_date) from {schema}.daily_domain_totals) "
        "order by total_amount desc limit 7"
    ),
    "monthly_location_totals (top 5 of the latest month)": (
        "select transaction_month, location, total_amount, transaction_count, "
        "amount_rank_in_month from {schema}.monthly_location_totals "
        "where transaction_month = "
        "(select max(transaction_month) from {schema}.monthly_location_totals) "
        "order by amount_rank_in_month limit 5"
    ),
}


def _cell(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"batch {summary['batch_id']}")
    table.add_column("stage / count")
    table.add_column("value", justify="right")
    for key, value in summary.get("rows", {}).items():
        table.add_row(key, _cell(value))
    for stage, seconds in summary.get("durations", {}).items():
        table.add_row(f"{stage} (s)", f"{seconds:,.1f}")
    console.print(table)
    console.print(summary.get("reconciliation", ""), highlight=False)


async def _fetch(dsn: str, schema: str) -> dict[str, list[asyncpg.Record]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            title: await conn.fetch(sql.format(schema=schema))
            for title, sql in MART_PREVIEWS.items()
        }
    finally:
        await conn.close()


def print_mart_previews(console: Console, dsn: str, schema: str) -> None:
    for title, rows in asyncio.run(_fetch(dsn, schema)).items():
        table = Table(title=f"{schema}.{title}")
        if not rows:
            console.print(f"{schema}.{title}: no rows")
            continue
        for column in rows[0].keys():  # noqa: SIM118 - a Record iterates its values
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        console.print(table)
