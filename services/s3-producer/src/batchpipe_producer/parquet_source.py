"""Parquet objects, read row group by row group (in record batches) with pyarrow.

pyarrow needs a seekable file (the footer is at the end), so the object is first spooled to a
temporary file on local disk (``BATCHPIPE_PRODUCER_SPOOL_DIR``), which is deleted after the run.
Each record batch is sliced into groups of ``row_limit`` rows whose columns are cast to text by
Arrow and go through the same validator as CSV and JSON Lines. A column the file stores as a
date is already a valid date: its text is ISO, so the validator only checks its year, and the
contract's ``format`` (which describes text) does not apply to it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from batchpipe_common.contracts import Contract
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.validator import Validator
from batchpipe_producer.wire_rows import RowSink

BATCH_ROWS = 65_536


def _as_text(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false")
    return pc.cast(array, pa.string())


def _open(path: Path, sources: list[str]) -> pq.ParquetFile:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableSource(f"not a Parquet file: {exc}") from None
    names = parquet.schema_arrow.names
    missing = [s for s in sources if s not in names]
    if missing:
        raise UnreadableSource(f"wrong schema: missing column(s) {missing}; has {names}")
    return parquet


def _batches(parquet: pq.ParquetFile, sources: list[str]) -> Iterator[pa.RecordBatch]:
    try:
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=sources)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableSource(f"unreadable Parquet data: {exc}") from None


def typed_dates(contract: Contract, schema: pa.Schema) -> frozenset[str]:
    """The contract's ``date`` columns that the file stores as Arrow dates."""
    return frozenset(
        c.name
        for c in contract.columns
        if c.column_type.kind == "date" and pa.types.is_date(schema.field(c.source).type)
    )


def produce_parquet(
    stream: BinaryIO, writer: BatchWriter, spool_dir: Path | None, *, vectorized: bool = True
) -> None:
    contract = writer.identity.contract
    sources = [c.source for c in contract.columns]
    rows_read = 0
    limit = writer.row_limit
    with tempfile.NamedTemporaryFile(dir=spool_dir, suffix=".parquet") as spool:
        shutil.copyfileobj(stream, spool, 1024 * 1024)
        spool.flush()
        if spool.tell() == 0:
            raise UnreadableSource("empty object")
        writer.check_cancelled()
        parquet = _open(Path(spool.name), sources)
        dates = typed_dates(contract, parquet.schema_arrow)
        validator = Validator(contract, csv=False, vectorized=vectorized, typed_dates=dates)
        sink = RowSink(writer, validator)
        for batch in _batches(parquet, sources):
            try:
                text = [_as_text(batch.column(s)) for s in sources]
            except pa.ArrowException as exc:
                raise UnreadableSource(f"a Parquet column cannot be read as text: {exc}") from None
            offset = 0
            while offset < batch.num_rows:
                columns = [c.slice(offset, limit) for c in text]
                count = len(columns[0])

                def raw(index: int, columns: list[pa.Array] = columns) -> bytes:
                    values = [c[index].as_py() for c in columns]
                    return orjson.dumps(dict(zip(sources, values, strict=True)))

                def record(_index: int, raw: str | bytes) -> list[str | None]:
                    return list(orjson.loads(raw).values())

                limit = sink.send(columns, rows_read + 1, record, raw)
                rows_read += count
                offset += count
    writer.finish([], rows_read)
