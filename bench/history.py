"""The history curve: ``dbt build`` after one new batch, on top of more and more history.

dbt's cost should follow the new batch, not the rows already held. One isolated warehouse
(the dbt tests' ``Warehouse``: its own raw, ledger and dbt schemas on the stack's
PostgreSQL, dropped at the end) is
grown step by step: history is bulk-loaded server-side (``INSERT ... SELECT`` from
``generate_series``, a batch of ``batch_rows`` rows at a time, each with its ledger row and
chunk marked loaded, as the sink leaves them, and 1% producer rejects in the ledger) and
taken in by unmeasured ``dbt build`` runs, one per ``INTAKE_ROWS`` rows;
then one new batch of ``batch_rows`` rows (same shape, its own seed) is loaded and the
``dbt build`` that takes it in is timed. The measured batch then counts as history for the
next, larger point.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from batchpipe_cli.generate import DOMAINS, LOCATIONS
from batchpipe_common.ddl import quote_ident
from tests.dbt.warehouse import DBT_PROJECT, Warehouse


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# one generated bank row per n, like batchpipe_cli.generate: 2022, 7 domains, 30 cities
_ROWS = f"""
INSERT INTO {{table}} (transaction_date, domain, location, total_amount, transaction_count,
                       _batch_id, _source_row)
SELECT date '2022-01-01' + floor(random() * 365)::int,
       ({_array(DOMAINS)})[1 + floor(random() * {len(DOMAINS)})::int],
       ({_array(LOCATIONS)})[1 + floor(random() * {len(LOCATIONS)})::int],
       round((100 + random() * 999899.99)::numeric, 2),
       1 + floor(random() * 1999)::int,
       $1, n
FROM generate_series(1, $2::bigint) AS n
"""


INTAKE_ROWS = 5_000_000
"""History is taken in by a ``dbt build`` every this many rows, as runs over time would (one
build of 29M rows needed tens of GB of disk for its temporary table and write-ahead log)."""

REJECTED_EVERY = 100
"""One producer reject per this many loaded rows in every batch (1%)."""


@dataclass(frozen=True)
class Point:
    history_rows: int
    batch_rows: int
    dbt_seconds: float


class HistoryWarehouse(Warehouse):
    """The dbt tests' isolated warehouse, filled server-side in bulk."""

    batches = 0

    async def add_batch(self, rows: int) -> str:
        """One loaded batch of ``rows`` generated rows, with its ledger row and chunk, and
        ``rows // REJECTED_EVERY`` producer rejects (the ledger grows as a real one does)."""
        self.batches += 1
        batch_id = f"bench-{self.suffix}-{self.batches:04d}"
        table = f"{quote_ident(self.raw_schema)}.{quote_ident(self.contract.raw_table_name)}"
        ledger = quote_ident(self.ledger_schema)
        sink = await asyncpg.connect(self.env["BATCHPIPE_PG_DSN"])
        try:
            async with sink.transaction():
                await sink.execute(_ROWS.format(table=table), batch_id, rows)
                rejected = rows // REJECTED_EVERY
                await sink.execute(
                    f"INSERT INTO {ledger}.rejects (batch_id, dataset, stage, source_uri,"
                    " source_row, raw_line, errors) SELECT $1, $2, 'producer',"
                    " 's3://bench/' || $1, $3::bigint + n, 'x,y', $5::jsonb"
                    " FROM generate_series(1, $4::bigint) AS n",
                    batch_id,
                    self.contract.name,
                    rows,
                    rejected,
                    '[{"column": "total_amount", "value": "abc", "reason": "not a number"}]',
                )
                await sink.execute(
                    f"INSERT INTO {ledger}.chunks (batch_id, chunk_seq, dataset, topic,"
                    " kafka_partition, kafka_offset, first_row, row_count, rows_loaded,"
                    " applied_by) VALUES ($1, 0, $2, $2, 0, 0, 1, $3, $3, 'bench')",
                    batch_id,
                    self.contract.name,
                    rows,
                )
                await sink.execute(
                    f"INSERT INTO {ledger}.batches (batch_id, dataset, contract_version,"
                    " source_uri, sha256, rows_read, rows_valid, rows_rejected, chunk_count,"
                    " data_offsets, dlq_offsets, manifest_at, status, loaded_at)"
                    " VALUES ($1, $2, 1, 's3://bench/' || $1, md5($1), $3::int + $4::int,"
                    " $3, $4, 1, '{}', '{}', now(), 'loaded', now())",
                    batch_id,
                    self.contract.name,
                    rows,
                    rejected,
                )
        finally:
            await sink.close()
        return batch_id

    async def settle(self) -> None:
        """Summarize the BRIN ranges and refresh statistics, as autovacuum would by then."""
        admin = await asyncpg.connect(self.env["BATCHPIPE_PG_ADMIN_DSN"])
        try:
            index = f"{self.raw_schema}.{self.contract.raw_table_name}_batch_brin"
            await admin.execute("SELECT brin_summarize_new_values($1::regclass)", index)
            table = quote_ident(self.contract.raw_table_name)
            await admin.execute(f"ANALYZE {quote_ident(self.raw_schema)}.{table}")
        finally:
            await admin.close()

    async def settle_models(self) -> None:
        """Vacuum and analyze the tables dbt built, then checkpoint: the state a history
        taken in over many runs is in (autovacuum has been through it; the intake's write-ahead
        log is not being flushed while the next run is timed)."""
        admin = await asyncpg.connect(self.env["BATCHPIPE_PG_ADMIN_DSN"])
        try:
            tables = await admin.fetch(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name"
                " FROM pg_tables WHERE schemaname LIKE $1",
                f"{self.dbt_schema}%",
            )
            for table in tables:
                await admin.execute(f"VACUUM ANALYZE {table['name']}")
            await admin.execute("CHECKPOINT")
        finally:
            await admin.close()

    def dbt_build(self) -> float:
        started = time.perf_counter()
        result = self.dbt("build")
        if result.returncode != 0:
            raise RuntimeError(f"dbt build failed:\n{result.stdout[-3000:]}")
        return time.perf_counter() - started


def history_curve(
    env: dict[str, str],
    history: list[int],
    batch_rows: int,
    log: Callable[[str], None] = print,
    on_point: Callable[[list[Point]], None] = lambda points: None,
) -> list[Point]:
    """``dbt build`` seconds after one new ``batch_rows`` batch, for each history size.

    ``on_point`` gets the points so far after each one (a long run that is stopped keeps
    what it measured)."""
    house = HistoryWarehouse(env)
    asyncio.run(house.create())
    held, points = 0, []
    try:
        for target in sorted(history):
            took = 0.0
            while held < target:
                step = min(batch_rows, target - held)
                asyncio.run(house.add_batch(step))
                held += step
                if held % INTAKE_ROWS == 0 or held == target:
                    asyncio.run(house.settle())
                    took += house.dbt_build()
            log(f"history {held:,} rows taken in by dbt in {took:.1f}s")
            asyncio.run(house.settle_models())
            asyncio.run(house.add_batch(batch_rows))
            seconds = house.dbt_build()
            points.append(Point(held, batch_rows, seconds))
            log(f"dbt build: {batch_rows:,} new rows on {held:,} of history: {seconds:.1f}s")
            on_point(points)
            held += batch_rows
    finally:
        asyncio.run(house.drop())
        shutil.rmtree(DBT_PROJECT / "target" / f"test-{house.suffix}", ignore_errors=True)
    return points


HEADING = "## History curve: dbt after one new batch"


def history_section(points: list[Point], command: str) -> str:
    """The Markdown section for docs/benchmarks.md, with the issue's targets checked."""
    lines = [
        HEADING,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        "the same size of new batch (generated rows, its own seed) on top of more and more "
        "history in an isolated warehouse; history is bulk-loaded server-side with its ledger "
        "rows (1% of each batch's rows as producer rejects) and taken in by unmeasured "
        f"`dbt build` runs, one per {INTAKE_ROWS:,} rows, then vacuumed, analyzed and "
        "checkpointed. `dbt build` is the per-run "
        "build (default selector: models plus per-run tests, no full-history tests). "
        f"Load average when written: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(the machine is shared; compare the points of one run, not runs).",
        "",
        "| history rows | new batch rows | dbt build s | x the smallest history |",
        "|---:|---:|---:|---:|",
    ]
    base = points[0].dbt_seconds if points else 0.0
    for p in points:
        lines.append(
            f"| {p.history_rows:,} | {p.batch_rows:,} | {p.dbt_seconds:.1f} | "
            f"{p.dbt_seconds / base:.2f} |"
        )
    big = [p for p in points if p.history_rows >= 20_000_000]
    if big and points:
        worst = max(p.dbt_seconds for p in big)
        ratio = worst / base
        lines += [
            "",
            "| target | measured | met |",
            "|---|---|---|",
            f"| dbt build <= 20 s with >= 20M rows of history | {worst:.1f} s | "
            f"{'yes' if worst <= 20 else '**no**'} |",
            f"| within 1.5x of the smallest history | {ratio:.2f}x | "
            f"{'yes' if ratio <= 1.5 else '**no**'} |",
        ]
    return "\n".join(lines) + "\n"


def splice_section(page: str, section: str) -> str:
    """``page`` with its history section replaced by ``section`` (appended when missing)."""
    start = page.find(HEADING)
    if start < 0:
        return page.rstrip("\n") + "\n\n" + section
    end = page.find("\n## ", start + len(HEADING))
    rest = page[end + 1 :] if end >= 0 else ""
    return page[:start] + section + ("\n" + rest if rest else "")
