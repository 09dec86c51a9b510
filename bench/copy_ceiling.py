"""How fast can any client feed PostgreSQL this data? ``COPY ... FROM STDIN`` through asyncpg.

The sink's own ceiling, without Kafka: the same generated bank rows, held in memory, copied
into a fresh table by a client, once as the five contract columns (what the limit loads) and
once with the lineage columns the sink writes on every row (``_batch_id``, ``_source_row``;
``_loaded_at`` from its default), three times each. Prints rows/s per repetition.

    .venv/bin/python -m bench.copy_ceiling [--rows 1000000]

Runs against the local stack (``batchpipe stack up``), in a ``bench`` schema it cleans up.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path

import asyncpg

from batchpipe_cli.generate import generate_bank_file
from batchpipe_common.contracts import LINEAGE_COLUMNS
from batchpipe_common.ddl import column_ddl
from bench.run import CONTRACT, stack_env

BATCH_ID = "bank_transactions-v1-0123456789abcdef0123"  # as long as a real batch id


def variants(path: Path) -> dict[str, tuple[str, list[str], bytes]]:
    """Table columns, COPY column list and COPY body (CSV without header) of each variant."""
    lines = path.read_bytes().split(b"\n")[1:]
    rows = [line for line in lines if line]
    plain = b"".join(row + b"\n" for row in rows)
    lineage = b"".join(
        row + b"," + BATCH_ID.encode() + b"," + str(n).encode() + b"\n"
        for n, row in enumerate(rows, start=1)
    )
    names = list(CONTRACT.column_names)
    ddl = [f"{name} {kind}" for name, kind in column_ddl(CONTRACT)]
    return {
        # the limit's table: the contract's columns only
        "contract columns": (", ".join(ddl[: len(names)]), names, plain),
        # the raw table the sink loads
        "with lineage columns": (", ".join(ddl), [*names, *LINEAGE_COLUMNS], lineage),
    }


async def measure(dsn: str, rows: int, path: Path, reps: int) -> list[tuple[str, int, float]]:
    """(variant, rows copied, rows/s) per repetition."""
    results: list[tuple[str, int, float]] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create schema if not exists bench")
        for label, (ddl, columns, body) in variants(path).items():
            for _ in range(reps):
                await conn.execute("drop table if exists bench.copy_ceiling")
                await conn.execute(f"create table bench.copy_ceiling ({ddl})")
                started = time.perf_counter()
                status = await conn.copy_to_table(
                    "copy_ceiling",
                    schema_name="bench",
                    source=io.BytesIO(body),
                    columns=columns,
                    format="csv",
                )
                seconds = time.perf_counter() - started
                results.append((label, int(status.split()[-1]), rows / seconds))
                size = len(body) / 1e6
                print(f"{label}: {rows / seconds:,.0f} rows/s ({size:.0f} MB)", flush=True)
    finally:
        await conn.execute("drop table if exists bench.copy_ceiling")
        await conn.close()
    return results


async def sink_ceiling(dsn: str, path: Path) -> float:
    """Seconds of one client ``COPY`` of ``path``'s rows in the sink's wire form (lineage
    columns) into a fresh copy of the raw table (``LIKE ... INCLUDING ALL``: its defaults and
    BRIN index): what the sink's COPY costs PostgreSQL, without Kafka or the ledger."""
    _ddl, columns, body = variants(path)["with lineage columns"]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create schema if not exists bench")
        await conn.execute("drop table if exists bench.sink_ceiling")
        await conn.execute(
            f"create table bench.sink_ceiling (like {CONTRACT.raw_table} including all)"
        )
        started = time.perf_counter()
        await conn.copy_to_table(
            "sink_ceiling",
            schema_name="bench",
            source=io.BytesIO(body),
            columns=columns,
            format="csv",
        )
        return time.perf_counter() - started
    finally:
        await conn.execute("drop table if exists bench.sink_ceiling")
        await conn.close()


def main(argv: list[str] | None = None) -> list[tuple[str, int, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="batchpipe-ceiling-") as work:
        path = Path(work) / "bank.csv"
        generate_bank_file(path, args.rows, 1)
        dsn = stack_env()["BATCHPIPE_PG_ADMIN_DSN"]
        return asyncio.run(measure(dsn, args.rows, path, args.reps))


if __name__ == "__main__":
    main()
