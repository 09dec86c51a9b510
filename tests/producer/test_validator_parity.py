"""The vectorized validator gives exactly what the per-value path gives, and a bad row costs
only itself (no servers)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from batchpipe_common.contracts import Contract, load_contract, parse_contract
from batchpipe_producer import validator as validator_module
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.csv_source import produce_csv
from batchpipe_producer.fast_checks import fast_check
from batchpipe_producer.jsonl_source import produce_jsonl
from batchpipe_producer.parquet_source import produce_parquet
from batchpipe_producer.value_rules import Converter, column_converter
from tests.producer.fakes import RecordingOutbox, writer_for
from tests.producer.planted import as_jsonl, as_parquet, bank_sample

REPO = Path(__file__).resolve().parents[2]
HEADER = b"Date,Domain,Location,Total_Amount,Transaction_count"

# Valid rows that are not in wire form or sit next to a bound, and bad rows of many kinds.
EDGE_LINES = [
    b"2022-01-01,RETAIL,Mumbai,+100.00,5",
    b"2022-01-01,RETAIL,Mumbai,0100.00,5",
    b"2022-01-01,RETAIL,Mumbai,.5,0",
    b"2022-01-01,RETAIL,Mumbai,999999999999.99,1000000",
    b"2022-01-01,RETAIL,Mumbai,1000000000000.00,5",
    b"2022-01-01,RETAIL,Mumbai,0,-0",
    b"2022-01-01,RETAIL,Mumbai,1,007",
    b"2022-01-01,RETAIL,Mumbai,1, 7 ",
    b"2022-01-01,RETAIL,Mumbai,1,99999999999999999999",
    b"2022-01-01,RETAIL,Mumbai,abc,5",
    b"2022-01-01,RETAIL,Mumbai,1e5,5",
    b"2022-01-01,RETAIL,Mumbai,-0.01,5",
    b"2022-1-1,RETAIL,Mumbai,1,1",
    b"20220101,RETAIL,Mumbai,1,1",
    b"2023-02-29,RETAIL,Mumbai,1,1",
    b"2022-01-01,RETAIL, Mumbai,1,1",
    b"2022-01-01,retail,Mumbai,1,1",
    b"2022-01-01,,Mumbai,1,1",
    b"2022-01-01,RETAIL,M\xc3\xbcnchen,1,1",
    b"2022-01-01,RETAIL,Mumbai,1",
    b"2022-01-01,RETAIL,Mumbai,1,1,1",
    b'2022-01-01,RETAIL,"Mum\nbai",100.00,5',
    b'2022-01-01,"RETAIL"X,Mumbai,100.00,5',
    b"2022-01-01,RETAIL,Mumb\xffai,100.00,5",
    b"",
    b"\r",
]


@pytest.fixture(scope="module")
def bank() -> Contract:
    return load_contract(REPO / "contracts" / "bank_transactions.yaml")


def _with_edges(data: bytes, every: int = 1100) -> bytes:
    lines = data.split(b"\n")
    for index, edge in enumerate(EDGE_LINES):
        lines.insert(1 + (index + 1) * every, edge)
    return b"\n".join(lines)


Produce = Callable[..., None]


def _run(
    contract: Contract, data: bytes, rows: int, produce: Produce, vectorized: bool
) -> tuple[RecordingOutbox, BatchWriter]:
    writer, outbox = writer_for(contract, rows=rows)
    produce(io.BytesIO(data), writer, vectorized=vectorized)
    return outbox, writer


def _parquet(stream: BinaryIO, writer: BatchWriter, *, vectorized: bool) -> None:
    produce_parquet(stream, writer, None, vectorized=vectorized)


SAMPLES: dict[str, tuple[Callable[[], bytes], Produce]] = {
    "clean": (lambda: bank_sample(30_000, seed=21, plant=False).csv_bytes, produce_csv),
    "crlf, no final line break": (
        lambda: bank_sample(8_000, seed=23, plant=False).csv_bytes.replace(b"\n", b"\r\n")[:-2],
        produce_csv,
    ),
    "quoted header": (
        lambda: bank_sample(8_000, seed=24, plant=False).csv_bytes.replace(
            HEADER, b'"Date","Domain","Location","Total_Amount","Transaction_count"'
        ),
        produce_csv,
    ),
    "planted bad rows": (lambda: bank_sample(30_000, seed=25).csv_bytes, produce_csv),
    "many kinds of bad and edge rows": (
        lambda: _with_edges(bank_sample(30_000, seed=26, plant=False).csv_bytes),
        produce_csv,
    ),
    "jsonl": (lambda: as_jsonl(bank_sample(5_000, seed=27, plant=False)), produce_jsonl),
    "parquet": (lambda: as_parquet(bank_sample(5_000, seed=28, plant=False)), _parquet),
}


@pytest.mark.parametrize("rows", [997, 10_000])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_vectorized_path_sends_what_the_per_value_path_sends(
    bank: Contract, name: str, rows: int
) -> None:
    make, produce = SAMPLES[name]
    data = make()
    fast, fast_writer = _run(bank, data, rows, produce, True)
    exact, exact_writer = _run(bank, data, rows, produce, False)

    assert fast.messages == exact.messages
    assert fast.dead_letters == exact.dead_letters
    assert fast_writer.progress == exact_writer.progress
    progress = fast_writer.progress
    assert progress.rows_valid + progress.rows_rejected == progress.rows_read > 0


KEYS_CONTRACT = """
name: keyed
version: 1
format: csv
dialect: {delimiter: ";", trim: true, skip_rows: 2, comment: "#"}
null_values: ["", "NA", "-"]
decimal_separator: ","
columns:
  - {source: day, name: day, type: date, format: "%d/%m/%Y", nullable: false}
  - {source: at, name: at, type: timestamptz, format: "%m/%d/%Y %H:%M", timezone: Europe/Paris}
  - {source: amount, name: amount, type: "numeric(8,2)", checks: {min: 0}}
  - {source: ratio, name: ratio, type: double}
  - {source: ok, name: ok, type: boolean, true_values: ["oui"], false_values: ["non"]}
  - {source: note, name: note, type: text, null_values: ["N/A"]}
  - {source: n, name: n, type: integer}
raw_table: raw.keyed
topic: keyed
"""
KEYS_LINES = [
    "31/01/2024; 01/31/2024 13:05 ;12,50;0,5;oui;plain;1",
    "01/02/2024;NA;-;NA;non;a, b;-",
    "02/02/2024;02/01/2024 00:00;1,5;1e3; OUI ;NA;2",
    "# a comment line",
    "2024-02-03;02/01/2024 00:00;1,5;1;oui;x;3",
    "04/02/2024;2024-02-01 00:00;1,5;1;oui;x;3",
    "05/02/2024;02/01/2024 00:00;1.5;1;oui;x;3",
    "06/02/2024;02/01/2024 00:00;-1,5;1;oui;x;3",
    "07/02/2024;02/01/2024 00:00;1,5;1;yes;x;3",
    "NA;02/01/2024 00:00;1,5;1;oui;x;3",
    "08/02/2024;02/01/2024 00:00;1,5;1;oui;N/A;NA",
    "09/02/2024;02/01/2024 00:00;1,5;1;oui;;",
]


@pytest.mark.parametrize("rows", [3, 1000])
def test_parity_with_every_new_contract_key(rows: int) -> None:
    contract = parse_contract(KEYS_CONTRACT)
    body = "\n".join(KEYS_LINES * 300)
    data = f"exported by a tool\n\nday;at;amount;ratio;ok;note;n\n{body}\n".encode()
    fast, fast_writer = _run(contract, data, rows, produce_csv, True)
    exact, _ = _run(contract, data, rows, produce_csv, False)
    assert fast.messages == exact.messages
    assert fast_writer.progress.rows_read == 11 * 300
    assert fast_writer.progress.rows_rejected == 6 * 300


def test_a_bad_row_costs_only_itself(bank: Contract, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every 50th amount bad, only those values meet the amount's exact converter."""
    calls: dict[str, int] = {}

    def counting(contract: Contract, column: object, *, csv: bool) -> Converter:
        convert = column_converter(contract, column, csv=csv)  # type: ignore[arg-type]
        name = column.name  # type: ignore[attr-defined]

        def counted(value: str | None) -> str:
            calls[name] = calls.get(name, 0) + 1
            return convert(value)

        return counted

    # ColumnRule calls column_converter by the name validator imported: patch it there.
    monkeypatch.setattr(validator_module, "column_converter", counting)
    lines = bank_sample(20_000, seed=29, plant=False).csv_bytes.split(b"\n")
    for index in range(50, len(lines) - 1, 50):
        fields = lines[index].split(b",")
        lines[index] = b",".join([*fields[:3], b"abc", fields[4]])
    writer, outbox = writer_for(bank, rows=1000)
    produce_csv(io.BytesIO(b"\n".join(lines)), writer)

    bad = len(range(50, len(lines) - 1, 50))
    assert writer.progress.rows_rejected == bad == len(outbox.dead_letters)
    assert {d["errors"][0]["column"] for d in outbox.dead_letters} == {"total_amount"}
    # Each bad amount: its distinct value once per block, then once more for its reasons; the
    # columns that passed the vectorized pass never meet their converter.
    assert calls["total_amount"] <= 20 + bad
    assert calls.get("transaction_count", 0) == calls.get("location", 0) == 0


def test_typed_parquet_dates_are_dates_whatever_the_text_format(bank: Contract) -> None:
    """A contract whose ``format`` describes text dates (``%d/%m/%Y``) still loads a Parquet
    file that stores real dates: they are valid as they are, in both paths, ISO on the wire."""
    columns = [
        c.model_copy(update={"format": "%d/%m/%Y"}) if c.column_type.kind == "date" else c
        for c in bank.columns
    ]
    contract = bank.model_copy(update={"columns": tuple(columns)})
    sample = bank_sample(3_000, seed=30, plant=False)
    data = as_parquet(sample)
    fast, fast_writer = _run(contract, data, 1000, _parquet, True)
    exact, _ = _run(contract, data, 1000, _parquet, False)

    assert fast.messages == exact.messages
    assert fast_writer.progress.rows_rejected == 0
    assert fast_writer.progress.rows_valid == len(sample.good)
    assert sorted(row[0] for row in fast.rows()) == sorted(v[0] for v in sample.good.values())


MOMENTS = {
    ("date", None): ["2022-01-31", "2024-02-29", "2023-02-29", "2022-04-31", "2022-00-10",
                     "2022-01-00", "0999-12-31", "2022-1-31", "2022-01-31 ", "20220131", ""],
    ("timestamp", None): ["2022-01-31T13:05:00", "2023-02-29T00:00:00", "2022-01-31T24:00:00",
                          "2022-01-31T23:60:00", "2022-01-31T23:59:60", "2022-01-31 13:05:00",
                          "2022-01-31T13:05", "2022-01-31T13:05:00+01:00", "2022-01-31"],
    ("date", "%d/%m/%Y"): ["31/01/2024", "29/02/2023", "00/01/2024", "10/00/2024", "10/13/2024",
                           "1/2/2024", "31/01/0999", "2024-01-31"],
    ("timestamp", "%m/%d/%Y %H:%M"): ["01/31/2024 13:05", "02/29/2023 10:00", "01/31/2024 24:00",
                                      "01/31/2024 23:60", "13/01/2024 10:00", "1/31/2024 13:05"],
}  # fmt: skip


@pytest.mark.parametrize(("kind", "fmt"), list(MOMENTS))
def test_moments_the_fast_pass_accepts_are_what_the_converter_gives(
    kind: str, fmt: str | None
) -> None:
    """The vectorized moment check accepts only what the exact converter accepts, with the same
    wire form (Arrow's own parser rolls 2023-02-29 over to March 1st: that must not get
    through)."""
    import pyarrow as pa

    spec = f"{{source: v, name: v, type: {kind}" + (f', format: "{fmt}"' if fmt else "") + "}"
    contract = parse_contract(
        f"name: m\nversion: 1\nformat: csv\ncolumns:\n  - {spec}\nraw_table: raw.m\ntopic: m\n"
    )
    (column,) = contract.columns
    fast = fast_check(contract, column)
    convert = column_converter(contract, column, csv=True)
    assert fast is not None
    values = MOMENTS[kind, fmt]
    ok, wire = fast(pa.array(values, pa.string()))
    sent = values if wire is None else wire.to_pylist()
    for value, accepted, out in zip(values, ok.to_pylist(), sent, strict=True):
        if accepted:
            assert convert(value) == out, value
    assert ok.to_pylist()[0], "a plain value takes the fast pass"
