"""The bank sample generator: deterministic, exact row count, the data set's schema."""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from pathlib import Path

from batchpipe_cli.generate import DOMAINS, HEADER, LOCATIONS, generate_bank_file


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate_bank_file(tmp_path / "a.csv", 5_000, seed=7)
    b = generate_bank_file(tmp_path / "b.csv", 5_000, seed=7)
    c = generate_bank_file(tmp_path / "c.csv", 5_000, seed=8)
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_row_count_and_schema(tmp_path: Path) -> None:
    path = generate_bank_file(tmp_path / "bank.csv", 25_001, seed=1)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == HEADER
    data = rows[1:]
    assert len(data) == 25_001
    amount = re.compile(r"^\d+\.\d{2}$")
    for date, domain, location, total, count in data:
        assert re.fullmatch(r"2022-\d{2}-\d{2}", date)
        assert domain in DOMAINS
        assert location in LOCATIONS
        assert amount.match(total) and float(total) >= 100
        assert count.isdigit() and int(count) >= 1
    assert {r[1] for r in data} == set(DOMAINS)


def test_gzip_output_is_deterministic_and_same_rows(tmp_path: Path) -> None:
    plain = generate_bank_file(tmp_path / "p.csv", 3_000, seed=3)
    gz1 = generate_bank_file(tmp_path / "g1.csv.gz", 3_000, seed=3, gzip_output=True)
    gz2 = generate_bank_file(tmp_path / "g2.csv.gz", 3_000, seed=3, gzip_output=True)
    assert _sha(gz1) == _sha(gz2)
    assert gzip.decompress(gz1.read_bytes()) == plain.read_bytes()


def test_zero_rows_is_header_only(tmp_path: Path) -> None:
    path = generate_bank_file(tmp_path / "empty.csv", 0)
    assert path.read_text() == ",".join(HEADER) + "\n"
