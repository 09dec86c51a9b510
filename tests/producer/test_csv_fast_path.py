"""The CSV fast path (Arrow) gives exactly the messages of the exact path (no servers)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from batchpipe_common.contracts import Contract, load_contract
from batchpipe_producer import csv_source
from batchpipe_producer.chunks import BatchWriter, EncodedRows
from batchpipe_producer.csv_fast import is_clean
from batchpipe_producer.csv_source import produce_csv
from tests.producer.fakes import RecordingOutbox, writer_for
from tests.producer.planted import bank_sample

REPO = Path(__file__).resolve().parents[2]
HEADER = b"Date,Domain,Location,Total_Amount,Transaction_count"

# Valid rows that are not in wire form, or sit next to a bound: the exact path decides them.
EDGE_LINES = [
    b"2022-01-01,RETAIL,Mumbai,+100.00,5",
    b"2022-01-01,RETAIL,Mumbai,0100.00,5",
    b"2022-01-01,RETAIL,Mumbai,.5,0",
    b"2022-01-01,RETAIL,Mumbai,999999999999.99,1000000",
    b"2022-01-01,RETAIL,Mumbai,1000000000000.00,5",
    b"2022-01-01,RETAIL,Mumbai,1,007",
    b"2022-01-01,RETAIL,Mumbai,1,99999999999999999999",
    b"2022-1-1,RETAIL,Mumbai,1,1",
    b"2022-01-01,RETAIL, Mumbai,1,1",
    b"2022-01-01,RETAIL,M\xc3\xbcnchen,1,1",
    b'2022-01-01,RETAIL,"Mum\nbai",100.00,5',
    b"\r",
]


@pytest.fixture(scope="module")
def bank() -> Contract:
    return load_contract(REPO / "contracts" / "bank_transactions.yaml")


def _with_edges(data: bytes) -> bytes:
    lines = data.split(b"\n")
    for index, edge in enumerate(EDGE_LINES):
        lines.insert(1 + (index + 1) * 1500, edge)
    return b"\n".join(lines)


def _run(
    contract: Contract, data: bytes, rows: int, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[RecordingOutbox, BatchWriter, int]:
    encoded_groups = 0
    writer, outbox = writer_for(contract, rows=rows)
    flush_encoded = writer.flush_encoded

    def counting(encoded: EncodedRows, rows_read: int) -> int:
        nonlocal encoded_groups
        encoded_groups += 1
        return flush_encoded(encoded, rows_read)

    writer.flush_encoded = counting  # type: ignore[method-assign,assignment]
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(csv_source, "fast_path_possible", lambda *_: False)
        produce_csv(io.BytesIO(data), writer)
    return outbox, writer, encoded_groups


SAMPLES = {
    "clean": lambda: bank_sample(30_000, seed=21, plant=False).csv_bytes,
    "clean, no final line break": lambda: bank_sample(5_000, seed=22, plant=False).csv_bytes[:-1],
    "crlf": lambda: bank_sample(8_000, seed=23, plant=False).csv_bytes.replace(b"\n", b"\r\n"),
    "quoted header": lambda: bank_sample(8_000, seed=24, plant=False).csv_bytes.replace(
        HEADER, b'"Date","Domain","Location","Total_Amount","Transaction_count"'
    ),
    "planted bad rows": lambda: bank_sample(30_000, seed=25).csv_bytes,
    "valid rows not in wire form": lambda: _with_edges(
        bank_sample(30_000, seed=26, plant=False).csv_bytes
    ),
}


@pytest.mark.parametrize("rows", [997, 10_000])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_fast_path_sends_what_the_exact_path_sends(
    bank: Contract, name: str, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = SAMPLES[name]()
    fast, fast_writer, fast_groups = _run(bank, data, rows, True, monkeypatch)
    exact, exact_writer, exact_groups = _run(bank, data, rows, False, monkeypatch)

    assert fast.messages == exact.messages
    assert fast_writer.progress == exact_writer.progress
    assert exact_groups == 0
    assert fast_groups > 0
    assert fast_writer.progress.rows_valid + fast_writer.progress.rows_rejected == (
        fast_writer.progress.rows_read
    )


def test_clean_data_takes_only_the_fast_path(
    bank: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bank_sample(20_000, seed=27, plant=False).csv_bytes
    outbox, writer, groups = _run(bank, data, 1000, True, monkeypatch)
    assert groups == len(outbox.chunks) == 20
    assert writer.progress.rows_valid == 20_000


@pytest.mark.parametrize(
    ("data", "clean"),
    [
        (b"a,b\nc,d\n", True),
        (b"a,b\r\nc,d\r\n", True),
        (b'a,"b"\n', False),
        (b"a,b\rc,d\n", False),
        (b"a,\x00\n", False),
    ],
)
def test_clean_lines_have_no_quote_nul_or_lone_carriage_return(data: bytes, clean: bool) -> None:
    assert is_clean(data) is clean
