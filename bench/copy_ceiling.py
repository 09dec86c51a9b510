"""How fast can any client feed PostgreSQL this data? ``COPY ... FROM STDIN`` through asyncpg.

The sink's own ceiling, without Kafka: the same generated bank rows, held in memory, copied
into a fresh table (with the raw table's BRIN index on ``_batch_id`` unless said otherwise)
by a client, as the five contract columns (what the limit loads), as the sink copies them (wire
format 2: ``_source_row`` on every row, ``_batch_id`` from its default, the batch the
transaction set, ``_loaded_at`` from its default), the same without the BRIN index (what
maintaining it costs), and with the 41-character batch id on every row as wire format 1 had
it, alternating, three times each. ``--streams 2`` splits the rows over two connections
copying at once, as one sink replica does. Prints rows/s per repetition.

    .venv/bin/python -m bench.copy_ceiling [--rows 1000000] [--streams 2]

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
from batchpipe_common.contracts import BATCH_ID_COLUMN, LINEAGE_COLUMNS
from batchpipe_common.ddl import BATCH_ID_SETTING, column_ddl
from batchpipe_sink.settings import SinkSettings
from bench.stages import CONTRACT, stack_env

BATCH_ID = "bank_transactions-v1-0123456789abcdef0123"  # as long as a real batch id
SINK_STREAMS: int = SinkSettings.model_fields["sink_copy_connections"].default
"""COPY connections of one sink replica (its default)"""


def variants(path: Path) -> dict[str, tuple[str, list[str], bytes, bool]]:
    """Table columns, COPY column list, COPY body (CSV without header) and whether the table
    has the raw table's BRIN index on ``_batch_id``, of each variant."""
    lines = path.read_bytes().split(b"\n")[1:]
    rows = [line for line in lines if line]
    plain = b"".join(row + b"\n" for row in rows)

    def numbered(prefix: bytes) -> bytes:
        return b"".join(
            row + b"," + prefix + str(n).encode() + b"\n" for n, row in enumerate(rows, start=1)
        )

    names = list(CONTRACT.column_names)
    ddl = ", ".join(f"{name} {kind}" for name, kind in column_ddl(CONTRACT))
    sink_rows = numbered(b"")
    return {
        # the limit's table: the contract's columns only
        "contract columns": (ddl.split(", _batch_id")[0], names, plain, False),
        # the raw table, as the sink copies into it
        "as the sink copies": (ddl, list(CONTRACT.wire_columns), sink_rows, True),
        # the same without the index dbt finds a batch's rows by
        "as the sink copies, no BRIN index": (ddl, list(CONTRACT.wire_columns), sink_rows, False),
        # the same with the batch id on every row (wire format 1)
        "with the batch id on every row": (
            ddl,
            [*names, BATCH_ID_COLUMN, *LINEAGE_COLUMNS],
            numbered(BATCH_ID.encode() + b","),
            True,
        ),
    }


async def _connect(dsn: str) -> asyncpg.Connection:
    """A connection whose rows go to ``BATCH_ID`` (the sink sets it per transaction)."""
    return await asyncpg.connect(dsn, server_settings={BATCH_ID_SETTING: BATCH_ID})


def _parts(body: bytes, streams: int) -> list[bytes]:
    """``body`` cut at line ends into ``streams`` parts of about equal size."""
    parts, start = [], 0
    for i in range(1, streams):
        end = body.index(b"\n", max(start, len(body) * i // streams)) + 1
        parts.append(body[start:end])
        start = end
    return [*parts, body[start:]]


async def measure(
    dsn: str, rows: int, path: Path, reps: int, streams: int = 1
) -> list[tuple[str, int, float]]:
    """(variant, rows copied, rows/s) per repetition, the variants alternating."""
    results: list[tuple[str, int, float]] = []
    conns = [await _connect(dsn) for _ in range(streams)]
    conn = conns[0]
    try:
        await conn.execute("create schema if not exists bench")
        cases = variants(path)
        for _ in range(reps):
            for label, (ddl, columns, body, brin) in cases.items():
                await conn.execute("drop table if exists bench.copy_ceiling")
                await conn.execute(f"create table bench.copy_ceiling ({ddl})")
                if brin:
                    await conn.execute(
                        "create index on bench.copy_ceiling using brin (_batch_id)"
                        " with (autosummarize = on)"
                    )
                started = time.perf_counter()
                copied = await _copy(conns, "copy_ceiling", columns, body)
                seconds = time.perf_counter() - started
                results.append((label, copied, rows / seconds))
                size = len(body) / 1e6
                print(f"{label}: {rows / seconds:,.0f} rows/s ({size:.0f} MB)", flush=True)
    finally:
        await conn.execute("drop table if exists bench.copy_ceiling")
        for c in conns:
            await c.close()
    return results


async def _copy(
    conns: list[asyncpg.Connection], table: str, columns: list[str], body: bytes
) -> int:
    """``body`` into ``bench.<table>``, split over ``conns`` copying at once; rows copied."""
    statuses = await asyncio.gather(
        *(
            c.copy_to_table(
                table, schema_name="bench", source=io.BytesIO(part), columns=columns, format="csv"
            )
            for c, part in zip(conns, _parts(body, len(conns)), strict=True)
        )
    )
    return sum(int(status.split()[-1]) for status in statuses)


async def sink_ceiling(dsn: str, path: Path, streams: int = SINK_STREAMS) -> float:
    """Seconds of a client ``COPY`` of ``path``'s rows in the sink's wire form (lineage
    columns), over as many connections at once as one sink replica uses, into a fresh copy of
    the raw table (``LIKE ... INCLUDING ALL``: its defaults and BRIN index): what the sink's
    COPY costs PostgreSQL, without Kafka or the ledger."""
    _ddl, columns, body, _brin = variants(path)["as the sink copies"]
    conns = [await _connect(dsn) for _ in range(streams)]
    conn = conns[0]
    try:
        await conn.execute("create schema if not exists bench")
        await conn.execute("drop table if exists bench.sink_ceiling")
        await conn.execute(
            f"create table bench.sink_ceiling (like {CONTRACT.raw_table} including all)"
        )
        started = time.perf_counter()
        await _copy(conns, "sink_ceiling", columns, body)
        return time.perf_counter() - started
    finally:
        await conn.execute("drop table if exists bench.sink_ceiling")
        for c in conns:
            await c.close()


def main(argv: list[str] | None = None) -> list[tuple[str, int, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--streams", type=int, default=1, help="connections copying at once")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="batchpipe-ceiling-") as work:
        path = Path(work) / "bank.csv"
        generate_bank_file(path, args.rows, 1)
        dsn = stack_env()["BATCHPIPE_PG_ADMIN_DSN"]
        return asyncio.run(measure(dsn, args.rows, path, args.reps, args.streams))


if __name__ == "__main__":
    main()
