"""Real-world files: dirty rows end to end, null markers and formats, Parquet and JSON Lines.

- **Dirty files, end to end** (the stack, the bank contract): the same-size file clean and with
  1 % / 5 % of its rows bad (amount ``abc``, spread evenly), run as pairs (clean, then dirty)
  alternating in one run; the figure is the median of the per-pair ratios of rows/s.
- **Validation alone** (in process: parse, validate, serialize into chunks; no S3, no Kafka):
  a plain CSV against the same rows written with ``NA`` markers in 3 columns, ``%d/%m/%Y``
  dates and padded values (``null_values``, ``format``, ``trim``); the same rows as Parquet
  and as JSON Lines, with and without nulls, against CSV. Values/s = rows x columns / s.
"""

from __future__ import annotations

import csv
import io
import random
import statistics
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from batchpipe_common.contracts import Contract, parse_contract
from batchpipe_producer.chunks import OutMessage
from batchpipe_producer.formats import SourceFormat, validate_stream

if TYPE_CHECKING:
    from bench.stages import Context, Measure

DIRTY = (("1% bad rows", 100), ("5% bad rows", 20))
COLUMNS = """
columns:
  - {source: Date, name: transaction_date, type: date%s}
  - {source: Domain, name: domain, type: text}
  - {source: Location, name: location, type: text}
  - {source: Total_Amount, name: total_amount, type: "numeric(14,2)", checks: {min: 0}}
  - {source: Transaction_count, name: transaction_count, type: integer}
raw_table: raw.bench_real_world
topic: bench_real_world
"""
PLAIN = parse_contract("name: bench_real_world\nversion: 1\nformat: csv\n" + COLUMNS % "")
KEYED = parse_contract(
    "name: bench_real_world\nversion: 1\nformat: csv\ndialect: {trim: true}\n"
    'null_values: ["", "NA"]\n' + COLUMNS % ', format: "%d/%m/%Y"'
)
NULL_COLUMNS = (2, 3, 4)
"""Columns that get a marker (CSV) or a null (Parquet, JSON Lines) in every 10th row."""


def make_dirty(clean: Path, out: Path, every: int) -> int:
    """``clean`` with the amount of every ``every``-th row replaced by ``abc``; bad rows."""
    bad = 0
    with clean.open() as source, out.open("w") as target:
        target.write(source.readline())
        for index, line in enumerate(source, start=1):
            if index % every == 0:
                fields = line.split(",")
                fields[3] = "abc"
                line = ",".join(fields)
                bad += 1
            target.write(line)
    out.chmod(0o644)
    return bad


def dirty_pairs(
    ctx: Context,
    rows: int,
    reps: int,
    seed: int,
    bank_file: Callable[[Path, int, int], Path],
    end_to_end: Callable[[Context, Path], float],
    measure: type[Measure],
) -> list[Measure]:
    """For each dirt level: clean and dirty runs alternating, ratio = dirty / clean rows/s."""
    results = []
    for label, every in DIRTY:
        clean = measure(f"real-world: clean file (paired with {label})", rows)
        dirty = measure(f"real-world: {label}, end to end", rows)
        ratios = []
        for rep in range(reps):
            clean_path = bank_file(ctx.work, rows, seed + 2 * rep)
            dirty_path = ctx.work / f"dirty-{every}-{seed + 2 * rep + 1}.csv"
            source = bank_file(ctx.work, rows, seed + 2 * rep + 1)
            make_dirty(source, dirty_path, every)
            source.unlink()
            clean.seconds.append(end_to_end(ctx, clean_path))
            dirty.seconds.append(end_to_end(ctx, dirty_path))
            ratios.append(clean.seconds[-1] / dirty.seconds[-1])
            clean_path.unlink()
            dirty_path.unlink()
        dirty.ratio = statistics.median(ratios)
        dirty.note = f"median of {reps} paired ratios to clean: {dirty.ratio:.2f}x"
        results += [clean, dirty]
        seed += 2 * reps
    return results


# -- validation alone ------------------------------------------------------------------------


def _rows(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    domains = ["RETAIL", "RESTAURANT", "INVESTMENTS", "MEDICAL", "PUBLIC", "EDUCATION"]
    cities = ["Mumbai", "Pune", "Delhi", "Chennai", "Kolkata", "Surat", "Patna", "Agra"]
    start = date(2022, 1, 1).toordinal()
    return [
        [
            date.fromordinal(start + rng.randrange(730)).isoformat(),
            rng.choice(domains),
            rng.choice(cities),
            f"{rng.randrange(10**8)}.{rng.randrange(100):02d}",
            str(rng.randrange(2000)),
        ]
        for _ in range(count)
    ]


def _csv(rows: list[list[str]], keyed: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Domain", "Location", "Total_Amount", "Transaction_count"])
    for index, row in enumerate(rows):
        if keyed:
            day = date.fromisoformat(row[0]).strftime("%d/%m/%Y")
            row = [day, *(f" {v} " if i == 1 else v for i, v in enumerate(row[1:], 1))]
            if index % 10 == 0:
                row = ["NA" if i in NULL_COLUMNS else v for i, v in enumerate(row)]
        writer.writerow(row)
    return out.getvalue().encode()


def _typed(rows: list[list[str]], nulls: bool) -> dict[str, list[object]]:
    names = ["Date", "Domain", "Location", "Total_Amount", "Transaction_count"]
    columns: dict[str, list[object]] = {n: [] for n in names}
    for index, row in enumerate(rows):
        for i, (name, value) in enumerate(zip(names, row, strict=True)):
            missing = nulls and index % 10 == 0 and i in NULL_COLUMNS
            columns[name].append(None if missing else value)
    return columns


def _parquet(rows: list[list[str]], nulls: bool) -> bytes:
    data = _typed(rows, nulls)
    table = pa.table(
        {
            "Date": pa.array(data["Date"]).cast(pa.date32()),
            "Domain": pa.array(data["Domain"], pa.string()),
            "Location": pa.array(data["Location"], pa.string()),
            "Total_Amount": pa.array(data["Total_Amount"]).cast(pa.decimal128(14, 2)),
            "Transaction_count": pa.array(data["Transaction_count"]).cast(pa.int32()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _jsonl(rows: list[list[str]], nulls: bool) -> bytes:
    data = _typed(rows, nulls)
    names = list(data)
    return b"".join(
        orjson.dumps(dict(zip(names, values, strict=True))) + b"\n"
        for values in zip(*data.values(), strict=True)
    )


class _Count:
    def __init__(self) -> None:
        self.rows = 0

    def submit(self, messages: list[OutMessage]) -> None:
        self.rows += sum(1 for m in messages if m.kind == "chunk")


def _validate(contract: Contract, data: bytes, fmt: SourceFormat, rows: int) -> float:
    started = time.perf_counter()
    progress = validate_stream(contract, io.BytesIO(data), fmt, _Count())
    seconds = time.perf_counter() - started
    if progress.rows_valid != rows:
        raise RuntimeError(f"{fmt}: {progress.rows_valid} valid rows, expected {rows}")
    return seconds


def validation_alone(rows: int, reps: int, measure: type[Measure]) -> list[Measure]:
    """Interleaved repetitions of each file, so that the machine's load hits them alike."""
    sample = _rows(rows, seed=19)
    cases: list[tuple[str, Contract, bytes, SourceFormat]] = [
        ("CSV, plain", PLAIN, _csv(sample, keyed=False), "csv"),
        ("CSV, NA in 3 columns + format + trim", KEYED, _csv(sample, keyed=True), "csv"),
        ("Parquet, no nulls", PLAIN, _parquet(sample, nulls=False), "parquet"),
        ("Parquet, nulls in 3 columns", PLAIN, _parquet(sample, nulls=True), "parquet"),
        ("JSON Lines, no nulls", PLAIN, _jsonl(sample, nulls=False), "jsonl"),
        ("JSON Lines, nulls in 3 columns", PLAIN, _jsonl(sample, nulls=True), "jsonl"),
    ]
    results = [measure(f"validation alone: {name}", rows) for name, *_ in cases]
    for _ in range(reps):
        for result, (_name, contract, data, fmt) in zip(results, cases, strict=True):
            result.seconds.append(_validate(contract, data, fmt, rows))
    plain, keyed, parquet, parquet_nulls, jsonl, jsonl_nulls = results
    for result, base in ((keyed, plain), (parquet_nulls, parquet), (jsonl_nulls, jsonl)):
        result.ratio = base.median / result.median
        result.note = f"{result.ratio:.2f}x the rows/s of {base.name.split(': ')[1]}"
    parquet.ratio = plain.median / parquet.median
    parquet.note = f"{parquet.ratio:.2f}x the values/s of the same rows as CSV"
    return results


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.real_world``: only these rows, printed (``make bench`` runs them too)."""
    import argparse
    import shutil
    import tempfile

    from bench.run import log
    from bench.stages import Context, Measure, bank_file, stack_env, stage_end_to_end

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-validation-alone", action="store_true")
    args = parser.parse_args(argv)
    env = stack_env()
    work = Path(tempfile.mkdtemp(prefix="batchpipe-bench-"))
    ctx = Context(env=env, work=work, token=env.get("BATCHPIPE_API_TOKEN", ""))
    seed = time.time_ns() % 1_000_000_007
    try:
        end_to_end = partial(stage_end_to_end, parts={})
        results = dirty_pairs(ctx, args.rows, args.reps, seed, bank_file, end_to_end, Measure)
        if not args.no_validation_alone:
            results += validation_alone(args.rows, args.reps, Measure)
        for m in results:
            spread = ", ".join(f"{s:.2f}" for s in m.seconds)
            log(f"{m.name}: {m.rate:,.0f} rows/s (s: {spread}) {m.note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
