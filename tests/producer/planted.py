"""The bank sample with planted bad rows, in CSV, gzip, JSON Lines and Parquet."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from batchpipe_cli.generate import iter_lines

BAD_LINES: dict[str, bytes] = {
    "wrong type (date)": b"2022-13-45,RETAIL,Mumbai,100.00,5",
    "wrong type (amount)": b"2022-01-01,RETAIL,Mumbai,abc,5",
    "missing field": b"2022-01-01,RETAIL,Mumbai,100.00",
    "missing value": b"2022-01-01,,Mumbai,100.00,5",
    "extra column": b"2022-01-01,RETAIL,Mumbai,100.00,5,extra",
    "out of range (negative amount)": b"2022-01-01,RETAIL,Mumbai,-5.00,5",
    "out of range (count)": b"2022-01-01,RETAIL,Mumbai,100.00,2000000",
    "not allowed": b"2022-01-01,GAMBLING,Mumbai,100.00,5",
    "bad quoting": b'2022-01-01,"RETAIL"X,Mumbai,100.00,5',
    "invalid utf-8": b"2022-01-01,RETAIL,Mumb\xffai,100.00,5",
    "blank line": b"",
}


@dataclass(frozen=True)
class Sample:
    header: str
    good: dict[int, list[str]]
    """source row -> source values of the valid rows"""
    bad: dict[int, str]
    """source row -> kind of planted problem"""
    csv_bytes: bytes

    @property
    def rows_read(self) -> int:
        return len(self.good) + len(self.bad)


def bank_sample(rows: int, seed: int, plant: bool = True, every: int = 997) -> Sample:
    """``rows`` generated rows with the bad lines interleaved every ``every`` rows."""
    text = "".join(iter_lines(rows, seed))
    header, *lines = text.splitlines()
    out: list[bytes] = [header.encode()]
    good: dict[int, list[str]] = {}
    bad: dict[int, str] = {}
    kinds = list(BAD_LINES.items()) if plant else []
    for index, line in enumerate(lines):
        if kinds and index % every == every - 1:
            kind, raw = kinds.pop(0)
            out.append(raw)
            bad[len(out) - 1] = kind
        out.append(line.encode())
        good[len(out) - 1] = line.split(",")
    return Sample(header, good, bad, b"\n".join(out) + b"\n")


def as_gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def as_jsonl(sample: Sample) -> bytes:
    names = sample.header.split(",")
    rows = [dict(zip(names, sample.good[r], strict=True)) for r in sorted(sample.good)]
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def as_parquet(sample: Sample) -> bytes:
    names = sample.header.split(",")
    rows = [sample.good[r] for r in sorted(sample.good)]
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            names[0]: pa.array(columns[0]).cast(pa.date32()),
            names[1]: pa.array(columns[1]),
            names[2]: pa.array(columns[2]),
            names[3]: pa.array(columns[3]).cast(pa.decimal128(14, 2)),
            names[4]: pa.array([int(v) for v in columns[4]], pa.int32()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=max(1, len(rows) // 3))
    return buffer.getvalue()


def parse_chunk(value: bytes) -> list[list[str]]:
    """A chunk's data rows (header checked and dropped)."""
    reader = csv.reader(io.StringIO(value.decode("utf-8"), newline=""))
    return list(reader)
