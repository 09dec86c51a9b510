"""Reading a sample of a local file for ``contract infer``: its format, dialect and columns.

Every format arrives as text values per column (``None``: missing), exactly as the producer
sees them: CSV fields as written, JSON scalars as the JSON Lines parser renders them, Parquet
values cast to text the way the Parquet parser casts them.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Literal

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DELIMITERS = ",;\t|"
SampleFormat = Literal["csv", "jsonl", "parquet"]


class SampleError(ValueError):
    """A file that cannot be sampled; the message says why."""


@dataclass
class Sample:
    """What was read: the format, the CSV dialect, and the values of each source column."""

    fmt: SampleFormat
    columns: dict[str, list[str | None]]
    rows: int
    gzipped: bool = False
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    notes: dict[str, str] = field(default_factory=dict)
    """Why the dialect is what it is (delimiter, header, encoding), for the YAML comments."""


def _open(path: Path) -> tuple[io.BufferedIOBase, bool]:
    with path.open("rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    raw: io.BufferedIOBase = gzip.open(path, "rb") if gzipped else path.open("rb")  # noqa: SIM115 - the caller closes it
    return raw, gzipped


def _format_of(path: Path, head: bytes) -> SampleFormat:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet") or head.startswith(PARQUET_MAGIC):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson")) or head.lstrip().startswith(b"{"):
        return "jsonl"
    return "csv"


def read_sample(path: Path, rows: int) -> Sample:
    """The first ``rows`` data rows of ``path`` (gzip, CSV, JSON Lines or Parquet)."""
    raw, gzipped = _open(path)
    with raw:
        try:
            head = raw.peek(64)[:64] if hasattr(raw, "peek") else b""
        except (OSError, EOFError) as exc:
            raise SampleError(f"{path}: cannot read: {exc}") from None
        fmt = _format_of(path, head)
        if fmt == "parquet":
            sample = _parquet(raw, rows)
        elif fmt == "jsonl":
            sample = _jsonl(raw, rows)
        else:
            sample = _csv(raw, rows)
    sample.gzipped = gzipped
    return sample


def _parquet(raw: io.BufferedIOBase, rows: int) -> Sample:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from batchpipe_producer.parquet_source import _as_text

    try:
        parquet = pq.ParquetFile(io.BytesIO(raw.read()))
        batch = next(parquet.iter_batches(batch_size=rows), None)
    except (pa.ArrowException, OSError) as exc:
        raise SampleError(f"not a readable Parquet file: {exc}") from None
    names = parquet.schema_arrow.names
    if batch is None:
        return Sample("parquet", {n: [] for n in names}, 0)
    columns = {n: _as_text(batch.column(i)).to_pylist() for i, n in enumerate(names)}
    return Sample("parquet", columns, batch.num_rows)


def _jsonl(raw: io.BufferedIOBase, rows: int) -> Sample:
    import orjson

    from batchpipe_producer.jsonl_source import _scalar

    records: list[dict[str, object]] = []
    for number, line in enumerate(raw, start=1):
        if len(records) >= rows:
            break
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SampleError(f"line {number}: not valid JSON: {exc}") from None
        if type(obj) is not dict:
            raise SampleError(f"line {number}: not a JSON object but a {type(obj).__name__}")
        records.append(obj)
    keys = list(dict.fromkeys(k for record in records for k in record))
    columns: dict[str, list[str | None]] = {k: [] for k in keys}
    nested: dict[str, str] = {}
    for record in records:
        for key in keys:
            try:
                columns[key].append(_scalar(record.get(key)))
            except TypeError as exc:
                nested[key] = str(exc)
                columns[key].append(None)
    sample = Sample("jsonl", columns, len(records))
    sample.notes.update({f"nested:{k}": v for k, v in nested.items()})
    return sample


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if len(data) - exc.start < 4:  # a character cut by the sample's end
            return data[: exc.start].decode("utf-8"), "utf-8"
        return data.decode("latin-1"), "latin-1"


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    """Names, not data: all present, distinct, none a number, and not all like the rows below."""
    from batchpipe_cli.infer.types import looks_typed

    if not first or any(not v.strip() for v in first) or len(set(first)) != len(first):
        return False
    if any(looks_typed(v) for v in first):
        return False
    if not rest:
        return True
    # a column whose values below are typed (numbers, dates...) while the first row is not
    return any(
        all(looks_typed(r[i]) for r in rest if i < len(r) and r[i]) for i in range(len(first))
    ) or (csv.Sniffer().has_header("\n".join(",".join(r) for r in [first, *rest[:20]])))


def _csv(raw: io.BufferedIOBase, rows: int) -> Sample:
    data = b"".join(islice(raw, rows + 1))
    if not data.strip():
        raise SampleError("the file is empty")
    text, encoding = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:64_000], delimiters=DELIMITERS)
        delimiter = dialect.delimiter
        how = "the character that splits every sampled line into the same number of fields"
    except csv.Error:
        delimiter, how = ",", "default: no other candidate splits the lines evenly"
    records = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if not records:
        raise SampleError("no CSV records in the sample")
    first, rest = records[0], records[1:]
    header = _looks_like_header(first, rest)
    if header:
        names = first
    else:
        names = [f"column_{i + 1}" for i in range(len(first))]
        rest = records
    width = len(names)
    columns: dict[str, list[str | None]] = {n: [] for n in names}
    for record in rest[:rows]:
        for i, name in enumerate(names):
            columns[name].append(record[i] if i < width and i < len(record) else None)
    sample = Sample("csv", columns, min(len(rest), rows), delimiter=delimiter, header=header)
    sample.encoding = encoding
    sample.notes["delimiter"] = how
    sample.notes["header"] = (
        "the first line holds distinct names, none a value"
        if header
        else "the first line looks like data: columns are numbered"
    )
    sample.notes["encoding"] = (
        "every sampled byte is valid UTF-8" if encoding == "utf-8" else "not valid UTF-8"
    )
    return sample
