"""Parquet objects, read row group by row group (in record batches) with pyarrow.

pyarrow needs a seekable file (the footer is at the end), so the object is first spooled to a
temporary file on local disk (``BATCHPIPE_PRODUCER_SPOOL_DIR``), which is deleted after the run.
Values are cast to text by Arrow and go through the same converters as CSV and JSON Lines.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from batchpipe_producer.chunks import BatchWriter, RowLoop
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.validation import RowValidator

BATCH_ROWS = 65_536


def _as_text(array: pa.ChunkedArray | pa.Array) -> list[str | None]:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_boolean(array.type):
        return [None if v is None else ("true" if v else "false") for v in array.to_pylist()]
    return pc.cast(array, pa.string()).to_pylist()  # type: ignore[no-any-return]


def _rows(path: Path, sources: list[str]) -> Any:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableSource(f"not a Parquet file: {exc}") from None
    names = parquet.schema_arrow.names
    missing = [s for s in sources if s not in names]
    if missing:
        raise UnreadableSource(f"wrong schema: missing column(s) {missing}; has {names}")
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=sources):
            yield from zip(*(_as_text(batch.column(s)) for s in sources), strict=True)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableSource(f"unreadable Parquet data: {exc}") from None


def _as_json(sources: list[str], values: tuple[str | None, ...]) -> bytes:
    """The raw form of a rejected Parquet row: its values as a JSON object."""
    return orjson.dumps(dict(zip(sources, values, strict=True)))


def produce_parquet(stream: BinaryIO, writer: BatchWriter, spool_dir: Path | None) -> None:
    contract = writer.identity.contract
    validator = RowValidator(contract, empty_is_null=False)
    sources = [c.source for c in contract.columns]
    loop = RowLoop(writer, validator)
    with tempfile.NamedTemporaryFile(dir=spool_dir, suffix=".parquet") as spool:
        shutil.copyfileobj(stream, spool, 1024 * 1024)
        spool.flush()
        if spool.tell() == 0:
            raise UnreadableSource("empty object")
        writer.check_cancelled()
        for values in _rows(Path(spool.name), sources):
            loop.add(values, partial(_as_json, sources, values))
    loop.finish()
