"""Parsing, validation and serialization of CSV, JSON Lines and Parquet (no servers)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from batchpipe_common.contracts import Contract, load_contract, parse_contract
from batchpipe_common.wire import ChunkHeaders
from batchpipe_producer.csv_source import produce_csv
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.formats import validate_stream
from batchpipe_producer.jsonl_source import produce_jsonl
from batchpipe_producer.parquet_source import produce_parquet
from batchpipe_producer.source import decompressed
from tests.producer.fakes import BATCH, RecordingOutbox, writer_for
from tests.producer.planted import (
    BAD_LINES,
    as_gzip,
    as_jsonl,
    as_parquet,
    bank_sample,
    parse_chunk,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bank() -> Contract:
    return load_contract(REPO / "contracts" / "bank_transactions.yaml")


def test_planted_rows_are_rejected_and_valid_rows_kept_with_lineage(bank: Contract) -> None:
    sample = bank_sample(12_000, seed=7)
    writer, outbox = writer_for(bank, rows=700)
    produce_csv(io.BytesIO(sample.csv_bytes), writer)

    rows = outbox.rows()
    assert [int(r[-1]) for r in rows] == sorted(sample.good)
    chunks = [ChunkHeaders.from_kafka(m.headers or []) for m in outbox.chunks]
    assert {c.batch_id for c in chunks} == {BATCH}  # the batch is the chunk's, not a column
    assert {int(r[-1]): r[:-1] for r in rows} == sample.good
    letters = outbox.dead_letters
    assert {d["source_row"]: d["batch_id"] for d in letters} == dict.fromkeys(sample.bad, BATCH)
    assert len(letters) == len(BAD_LINES)
    progress = writer.progress
    assert progress.rows_read == sample.rows_read
    assert progress.rows_valid + progress.rows_rejected == progress.rows_read
    assert progress.rows_rejected == len(BAD_LINES)


def test_each_bad_row_kind_has_a_reason_and_its_raw_line(bank: Contract) -> None:
    sample = bank_sample(12_000, seed=8)
    writer, outbox = writer_for(bank)
    produce_csv(io.BytesIO(sample.csv_bytes), writer)
    by_row = {d["source_row"]: d for d in outbox.dead_letters}
    for row, kind in sample.bad.items():
        letter = by_row[row]
        raw = BAD_LINES[kind].decode("utf-8", "backslashreplace")
        assert letter["raw_line"] == raw, kind
        assert letter["errors"], kind
    reasons = {sample.bad[row]: by_row[row]["errors"] for row in sample.bad}
    assert reasons["blank line"][0]["reason"] == "blank line"
    assert "expected 5 columns, found 4" in reasons["missing field"][0]["reason"]
    assert "found 6" in reasons["extra column"][0]["reason"]
    assert reasons["missing value"][0]["column"] == "domain"
    assert reasons["out of range (negative amount)"][0]["column"] == "total_amount"
    assert "above the maximum" in reasons["out of range (count)"][0]["reason"]
    assert "malformed CSV" in reasons["bad quoting"][0]["reason"]
    assert reasons["wrong type (date)"][0]["column"] == "transaction_date"
    assert reasons["invalid utf-8"][0]["column"] == "location"
    assert "invalid byte sequence" in reasons["invalid utf-8"][0]["reason"]


def test_wire_chunk_is_copy_ready_csv(bank: Contract) -> None:
    sample = bank_sample(50, seed=9, plant=False)
    writer, outbox = writer_for(bank)
    produce_csv(io.BytesIO(sample.csv_bytes), writer)
    (chunk,) = outbox.chunks
    text = chunk.value.decode()
    assert text.endswith("\n") and "\r" not in text
    header, *rows = parse_chunk(chunk.value)
    assert header == list(bank.wire_columns)
    assert len(rows) == 50


TYPES_CONTRACT = """
name: typed
version: 3
format: csv
columns:
  - {source: t, name: t, type: text}
  - {source: i, name: i, type: bigint}
  - {source: d, name: d, type: double}
  - {source: b, name: b, type: boolean}
  - {source: ts, name: ts, type: timestamp}
  - {source: tz, name: tz, type: timestamptz}
  - {source: n, name: n, type: "numeric(5,1)", checks: {min: -10, max: 10}}
raw_table: raw.typed
topic: typed
"""


def test_values_are_normalized_to_their_wire_form() -> None:
    contract = parse_contract(TYPES_CONTRACT)
    data = (
        "t,i,d,b,ts,tz,n\n"
        "plain,+12,1e3,YES,2024-01-02T03:04:05,2024-01-02 03:04:05Z,9.5\n"
        '"a,b ""q""",-3,0.5,f,2024-01-02 00:00:00,2024-01-02T03:04:05+02:00,-10\n'
        ",,,,,,\n"
    )
    writer, outbox = writer_for(contract)
    produce_csv(io.BytesIO(data.encode()), writer)
    lines = outbox.chunks[0].value.decode().splitlines()
    assert lines[1] == ("plain,12,1000,true,2024-01-02T03:04:05,2024-01-02T03:04:05+00:00,9.5,1")
    assert lines[2] == (
        '"a,b ""q""",-3,0.5,false,2024-01-02T00:00:00,2024-01-02T03:04:05+02:00,-10,2'
    )
    assert lines[3] == ",,,,,,,3"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("x,1.5,,,,,", "i", "not an bigint"),
        ("x,99999999999999999999,,,,,", "i", "above the maximum"),
        ("x,,abc,,,,", "d", "not a double"),
        ("x,,,maybe,,,", "b", "not a boolean"),
        ("x,,,,2024-01-02T03:04:05+01:00,,", "ts", "cannot carry a UTC offset"),
        ("x,,,,,yesterday,", "tz", "not an ISO 8601 timestamp"),
        ("x,,,,,,10.05", "n", "not a numeric(5,1)"),
        ("x,,,,,,10.1", "n", "above the maximum"),
        ("x,,,,,,1e2", "n", "not a numeric(5,1)"),
    ],
)
def test_typed_rejects(row: str, column: str, reason: str) -> None:
    contract = parse_contract(TYPES_CONTRACT)
    writer, outbox = writer_for(contract)
    produce_csv(io.BytesIO(f"t,i,d,b,ts,tz,n\n{row}\n".encode()), writer)
    (letter,) = outbox.dead_letters
    errors = letter["errors"]
    assert isinstance(errors, list)
    assert errors[0]["column"] == column
    assert reason in errors[0]["reason"]


def test_invalid_bytes_in_plain_text_reject_only_their_row() -> None:
    contract = parse_contract(TYPES_CONTRACT)
    data = b"t,i,d,b,ts,tz,n\nok,1,,,,,\nbad\xff\xfe,2,,,,,\nok,3,,,,,\n"
    writer, outbox = writer_for(contract)
    produce_csv(io.BytesIO(data), writer)
    assert [r[1] for r in outbox.rows()] == ["1", "3"]
    (letter,) = outbox.dead_letters
    assert letter["source_row"] == 2
    assert "invalid byte sequence" in letter["errors"][0]["reason"]


def test_header_may_list_columns_in_another_order(bank: Contract) -> None:
    data = b"Location,Date,Domain,Transaction_count,Total_Amount\nPune,2022-01-02,RETAIL,7,10.50\n"
    writer, outbox = writer_for(bank)
    produce_csv(io.BytesIO(data), writer)
    assert outbox.rows() == [["2022-01-02", "RETAIL", "Pune", "10.50", "7", "1"]]


def test_utf8_bom_is_ignored(bank: Contract) -> None:
    data = b"\xef\xbb\xbf" + bank_sample(3, seed=1, plant=False).csv_bytes
    writer, outbox = writer_for(bank)
    produce_csv(io.BytesIO(data), writer)
    assert len(outbox.rows()) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty object"),
        (b"Date,Domain,Place,Total_Amount,Transaction_count\n", "wrong header"),
        (b"Date,Domain,Location,Total_Amount\n", "missing ['Transaction_count']"),
    ],
)
def test_unreadable_files_fail(bank: Contract, data: bytes, message: str) -> None:
    writer, _ = writer_for(bank)
    with pytest.raises(UnreadableSource, match=message.replace("[", r"\[").replace("]", r"\]")):
        produce_csv(io.BytesIO(data), writer)


def test_header_only_file_is_an_empty_batch(bank: Contract) -> None:
    writer, outbox = writer_for(bank)
    produce_csv(io.BytesIO(b"Date,Domain,Location,Total_Amount,Transaction_count\n"), writer)
    assert outbox.messages == []
    assert writer.progress.rows_read == 0


def test_chunks_respect_the_byte_cap(bank: Contract) -> None:
    sample = bank_sample(3000, seed=11, plant=False)
    writer, outbox = writer_for(bank, rows=10_000, max_bytes=12_000)
    produce_csv(io.BytesIO(sample.csv_bytes), writer)
    assert len(outbox.chunks) > 10
    assert all(len(m.value) <= 12_000 for m in outbox.chunks)
    assert len(outbox.rows()) == 3000


class _Raw(io.RawIOBase):
    """A raw stream like ``ObjectStream`` (only ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(buffer)


def _through_gzip(data: bytes, key: str) -> bytes:
    with decompressed(_Raw(data), key) as stream:  # type: ignore[arg-type]
        return stream.read()


def test_gzip_is_detected_by_magic_bytes_and_truncation_fails() -> None:
    payload = bank_sample(2000, seed=12, plant=False).csv_bytes
    packed = as_gzip(payload)
    assert _through_gzip(packed, "x/no-extension") == payload
    with pytest.raises(UnreadableSource, match="truncated gzip"):
        _through_gzip(packed[: len(packed) // 2], "x/file.csv.gz")


def test_csv_gzip_jsonl_and_parquet_give_the_same_rows(bank: Contract) -> None:
    sample = bank_sample(4000, seed=13, plant=False)
    results = []
    for data, producer in (
        (sample.csv_bytes, produce_csv),
        (as_jsonl(sample), produce_jsonl),
    ):
        writer, outbox = writer_for(bank)
        producer(io.BytesIO(data), writer)
        results.append(outbox.rows())
    writer, outbox = writer_for(bank)
    produce_parquet(io.BytesIO(as_parquet(sample)), writer, None)
    results.append(outbox.rows())
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 4000


def test_jsonl_bad_records(bank: Contract) -> None:
    good = (
        b'{"Date":"2022-01-01","Domain":"RETAIL","Location":"Pune",'
        b'"Total_Amount":1.5,"Transaction_count":2}'
    )
    data = b"\n".join(
        [
            good,
            b"",
            b"[1,2]",
            b"{not json",
            good[:-1] + b',"Extra":1}',
            good.replace(b'"Pune"', b'{"a":1}'),
            good.replace(b'"Pune"', b'"Pu\xffne"'),
            good.replace(b',"Transaction_count":2', b""),
        ]
    )
    writer, outbox = writer_for(bank)
    produce_jsonl(io.BytesIO(data + b"\n"), writer)
    assert outbox.rows() == [["2022-01-01", "RETAIL", "Pune", "1.5", "2", "1"]]
    assert [d["source_row"] for d in outbox.dead_letters] == [2, 3, 4, 5, 6, 7, 8]
    assert writer.progress.rows_read == 8


def test_not_parquet_fails(bank: Contract) -> None:
    writer, _ = writer_for(bank)
    with pytest.raises(UnreadableSource, match="not a Parquet file"):
        produce_parquet(io.BytesIO(b"Date,Domain\n"), writer, None)


def test_a_local_stream_is_validated_without_servers(bank: Contract) -> None:
    sample = bank_sample(3_000, seed=14)
    outbox = RecordingOutbox()
    progress = validate_stream(bank, io.BytesIO(sample.csv_bytes), "csv", outbox, chunk_rows=500)
    assert progress.rows_read == sample.rows_read
    assert progress.rows_rejected == len(sample.bad) == len(outbox.dead_letters)
    assert {int(r[-1]): r[:-1] for r in outbox.rows()} == sample.good
    assert {d["source_row"] for d in outbox.dead_letters} == set(sample.bad)


def test_a_blank_line_of_a_one_column_file_is_a_blank_line() -> None:
    contract = parse_contract(
        "name: one\nversion: 1\nformat: csv\ncolumns: [{source: a, name: a, type: text}]\n"
        "raw_table: raw.one\ntopic: one\n"
    )
    writer, outbox = writer_for(contract)
    produce_csv(io.BytesIO(b"a\nx\n\ny\n"), writer)
    assert [r[0] for r in outbox.rows()] == ["x", "y"]
    (letter,) = outbox.dead_letters
    assert (letter["source_row"], letter["errors"][0]["reason"]) == (2, "blank line")
