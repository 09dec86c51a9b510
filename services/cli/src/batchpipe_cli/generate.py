"""A deterministic, seeded generator of the bank transactions sample data set.

Columns: ``Date`` (YYYY-MM-DD), ``Domain``, ``Location`` (Indian cities), ``Total_Amount``
(two decimals) and ``Transaction_count``. The same seed and row count always give the same
bytes; a million rows take a few seconds.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO

HEADER = ("Date", "Domain", "Location", "Total_Amount", "Transaction_count")
DOMAINS = (
    "RETAIL",
    "RESTAURANT",
    "INVESTMENTS",
    "MEDICAL",
    "PUBLIC",
    "EDUCATION",
    "INTERNATIONAL",
)
LOCATIONS = (
    "Mumbai",
    "Delhi",
    "Bangalore",
    "Hyderabad",
    "Ahmedabad",
    "Chennai",
    "Kolkata",
    "Surat",
    "Pune",
    "Jaipur",
    "Lucknow",
    "Kanpur",
    "Nagpur",
    "Indore",
    "Thane",
    "Bhopal",
    "Visakhapatnam",
    "Patna",
    "Vadodara",
    "Ghaziabad",
    "Ludhiana",
    "Agra",
    "Nashik",
    "Ranchi",
    "Kochi",
    "Goa",
    "Mysore",
    "Amritsar",
    "Varanasi",
    "Srinagar",
)
START = dt.date(2022, 1, 1)
DAYS = 365
BLOCK = 10_000


def _dates() -> list[str]:
    return [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]


def iter_lines(rows: int, seed: int = 42) -> Iterator[str]:
    """CSV text in blocks of lines (header first). Amounts are 100.00 to 999,999.99."""
    rng = random.Random(seed)
    dates = _dates()
    yield ",".join(HEADER) + "\n"
    done = 0
    while done < rows:
        n = min(BLOCK, rows - done)
        ds = rng.choices(dates, k=n)
        doms = rng.choices(DOMAINS, k=n)
        locs = rng.choices(LOCATIONS, k=n)
        cents = [rng.randrange(10_000, 100_000_000) for _ in range(n)]
        counts = [rng.randrange(1, 2_000) for _ in range(n)]
        yield "".join(
            f"{d},{o},{loc},{c // 100}.{c % 100:02d},{k}\n"
            for d, o, loc, c, k in zip(ds, doms, locs, cents, counts, strict=True)
        )
        done += n


def write_bank_csv(out: IO[str], rows: int, seed: int = 42) -> None:
    for block in iter_lines(rows, seed):
        out.write(block)


def generate_bank_file(path: Path, rows: int, seed: int = 42, gzip_output: bool = False) -> Path:
    """Write ``rows`` data rows to ``path`` (gzip-compressed when asked); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if gzip_output:
        # mtime=0 keeps the compressed bytes deterministic too
        with (
            path.open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
        ):
            write_bank_csv(text, rows, seed)
    else:
        with path.open("w", encoding="utf-8", newline="") as fh:
            write_bank_csv(fh, rows, seed)
    return path
