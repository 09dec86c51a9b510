"""A corpus of bad files, generated: each with the outcome docs/s3-producer.md (or, where that
page is silent, docs/reliability.md) documents for it.

A file either fails its run (``FailsRun``: the reason the run's ``error`` must contain, no
manifest) or loads (``Loads``: the sample of valid rows and the source rows that must be
rejected). Good rows come from the bank generator with a per-session seed, so every session
makes new batches.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from dataclasses import dataclass

from batchpipe_cli.generate import HEADER, iter_lines
from tests.producer.planted import Sample

HEADER_LINE = ",".join(HEADER).encode()
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class FailsRun:
    reason: str
    """a phrase the run's error contains"""


@dataclass(frozen=True)
class Loads:
    sample: Sample


@dataclass(frozen=True)
class BadFile:
    kind: str
    file_name: str
    data: bytes
    outcome: FailsRun | Loads


def good_lines(count: int, seed: int) -> list[bytes]:
    return [line.encode() for line in "".join(iter_lines(count, seed)).splitlines()[1:]]


def records(
    lines: list[tuple[bytes, bool]], *, newline: bytes = b"\n", prefix: bytes = b""
) -> tuple[bytes, Sample]:
    """A CSV file of ``(record, valid)`` after the header; the sample that describes it."""
    good: dict[int, list[str]] = {}
    bad: dict[int, str] = {}
    for row, (record, valid) in enumerate(lines, start=1):
        if valid:
            (values,) = csv.reader(io.StringIO(record.decode(), newline=""))
            good[row] = values
        else:
            bad[row] = "planted"
    body = newline.join([prefix + HEADER_LINE, *(r for r, _ in lines)]) + newline
    return body, Sample(",".join(HEADER), good, bad, body)


def with_bad(seed: int, *bad_records: bytes, newline: bytes = b"\n") -> tuple[bytes, Sample]:
    """Good rows with the bad records interleaved (rows 3, 6, 9, ...)."""
    lines: list[tuple[bytes, bool]] = []
    good = iter(good_lines(40, seed))
    for record in bad_records:
        lines += [(next(good), True), (next(good), True), (record, False)]
    lines += [(line, True) for line in good]
    return records(lines, newline=newline)


def loads(kind: str, name: str, data_sample: tuple[bytes, Sample]) -> BadFile:
    data, sample = data_sample
    return BadFile(kind, name, data, Loads(sample))


def corpus(seed: int) -> list[BadFile]:
    rng = random.Random(seed)
    plain = good_lines(30, seed)
    all_good = [(line, True) for line in plain]
    full = b"\n".join([HEADER_LINE, *plain]) + b"\n"
    return [
        BadFile("empty", "empty.csv", b"", FailsRun("empty object")),
        BadFile(
            "header only",
            "header-only.csv",
            HEADER_LINE + b"\n",
            Loads(Sample(",".join(HEADER), {}, {}, HEADER_LINE + b"\n")),
        ),
        BadFile(
            "wrong delimiter",
            "semicolons.csv",
            full.replace(b",", b";"),
            FailsRun("wrong header"),
        ),
        BadFile(
            "wrong header",
            "wrong-header.csv",
            full.replace(b"Total_Amount", b"Amount", 1),
            FailsRun("wrong header"),
        ),
        loads("UTF-8 byte order mark", "bom.csv", records(all_good, prefix=b"\xef\xbb\xbf")),
        loads("CRLF line endings", "crlf.csv", records(all_good, newline=b"\r\n")),
        loads(
            "quoted fields with embedded newlines",
            "multiline.csv",
            with_bad(
                seed + 1,
                b'2022-01-01,RETAIL,"Mum\nbai",10.00,1',
                b'2022-01-01,"RE\r\nTAIL",Pune,10.00,1',
            ),
        ),
        loads(
            "invalid UTF-8",
            "latin1.csv",
            with_bad(seed + 2, b"2022-01-01,RETAIL,M\xfcnchen,10.00,1", b"\xff\xfe\x00,,,,"),
        ),
        loads(
            "10 MB single field",
            "huge-field.csv",
            with_bad(seed + 3, b"2022-01-01,RETAIL," + b"A" * TEN_MB + b",10.00,1"),
        ),
        BadFile(
            "truncated gzip",
            "truncated.csv.gz",
            gzip.compress(full * 50, mtime=0)[: len(gzip.compress(full * 50, mtime=0)) // 2],
            FailsRun("truncated gzip"),
        ),
        BadFile(
            "not CSV (binary)",
            "image.csv",
            b"\x89PNG\r\n\x1a\n" + rng.randbytes(64 * 1024),
            FailsRun("header"),
        ),
        loads(
            "more and fewer columns than the header",
            "columns.csv",
            with_bad(
                seed + 4,
                b"2022-01-01,RETAIL,Pune,10.00,1,surplus",
                b"2022-01-01,RETAIL,Pune,10.00",
                b"2022-01-01",
            ),
        ),
        loads(
            "numbers out of range",
            "out-of-range.csv",
            with_bad(
                seed + 5,
                b"2022-01-01,RETAIL,Pune,1000000000000.00,1",
                b"2022-01-01,RETAIL,Pune,10.00,2147483648",
                b"2022-01-01,RETAIL,Pune,-0.01,1",
                b"2022-01-01,RETAIL,Pune,1e400,1",
                b"2022-01-01,RETAIL,Pune,NaN,1",
            ),
        ),
        loads(
            "dates that do not exist",
            "dates.csv",
            with_bad(
                seed + 6,
                b"2023-02-29,RETAIL,Pune,10.00,1",
                b"2022-04-31,RETAIL,Pune,10.00,1",
                b"2022-13-01,RETAIL,Pune,10.00,1",
                b"0000-01-01,RETAIL,Pune,10.00,1",
            ),
        ),
    ]
