"""The loaders batchpipe is compared with; runs in the benchmark's own venv (.venvs/bench).

    python bench/baselines.py {pandas-insert|dlt-csv|dlt-arrow} --file F --dsn DSN --schema S

Prints one JSON line: {"loader", "rows", "seconds"}; rows are counted in PostgreSQL after the
load, so a loader that silently drops rows is caught.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import psycopg2


def _count(dsn: str, table: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"select count(*) from {table}")
        return int(cur.fetchone()[0])


def _reset_schema(dsn: str, schema: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {schema} cascade")


def pandas_insert(path: Path, dsn: str, schema: str) -> tuple[int, float]:
    """The tutorial loader: pandas.read_csv, then one INSERT per row."""
    import pandas as pd

    _reset_schema(dsn, schema)
    started = time.perf_counter()
    frame = pd.read_csv(path)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"create schema {schema}")
        cur.execute(
            f"create table {schema}.bank (date date, domain text, location text, "
            "total_amount numeric(14,2), transaction_count integer)"
        )
        for row in frame.itertuples(index=False):
            cur.execute(
                f"insert into {schema}.bank values (%s, %s, %s, %s, %s)",
                (row[0], row[1], row[2], float(row[3]), int(row[4])),
            )
        conn.commit()
    seconds = time.perf_counter() - started
    return _count(dsn, f"{schema}.bank"), seconds


def dlt_load(path: Path, dsn: str, schema: str, fast: bool) -> tuple[int, float]:
    """dlt's filesystem source: read_csv (idiomatic) or read_csv_duckdb + csv loader (fast)."""
    import dlt
    from dlt.sources.filesystem import filesystem, read_csv, read_csv_duckdb

    _reset_schema(dsn, schema)
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryDirectory() as pipelines_dir:
        started = time.perf_counter()
        files = filesystem(bucket_url=path.parent.as_uri(), file_glob=path.name)
        reader = (files | (read_csv_duckdb() if fast else read_csv())).with_name("bank")
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{schema}",
            destination="postgres",
            dataset_name=schema,
            pipelines_dir=pipelines_dir,
        )
        kwargs = {"loader_file_format": "csv"} if fast else {}
        pipeline.run(reader, write_disposition="replace", **kwargs)
        seconds = time.perf_counter() - started
    return _count(dsn, f"{schema}.bank"), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("loader", choices=["pandas-insert", "dlt-csv", "dlt-arrow"])
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", default="bench_baseline")
    args = parser.parse_args()
    if args.loader == "pandas-insert":
        rows, seconds = pandas_insert(args.file, args.dsn, args.schema)
    else:
        rows, seconds = dlt_load(args.file, args.dsn, args.schema, fast=args.loader == "dlt-arrow")
    _reset_schema(args.dsn, args.schema)
    print(json.dumps({"loader": args.loader, "rows": rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
