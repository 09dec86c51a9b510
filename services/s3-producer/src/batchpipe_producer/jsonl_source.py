"""JSON Lines objects: one JSON object per line, keys are the contract's source column names.

Lines are decoded one by one (orjson); each group of ``row_limit`` lines then goes to the
validator as string columns, like CSV. A line that is not an object of scalars is rejected
before validation."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import BinaryIO

import orjson
import pyarrow as pa

from batchpipe_common.wire import FieldError
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.validator import Validator
from batchpipe_producer.wire_rows import RowSink, listed

BLOCK_SIZE = 1024 * 1024
MAX_LINE = 64 * 1024 * 1024


def _lines(stream: BinaryIO, writer: BatchWriter) -> Iterator[bytes]:
    """Physical lines (without ``\\n`` / ``\\r\\n``), read in blocks."""
    carry = b""
    seen = False
    while True:
        writer.check_cancelled()
        data = stream.read(BLOCK_SIZE)
        if not data:
            break
        seen = True
        parts = (carry + data).split(b"\n")
        carry = parts.pop()
        if len(carry) > MAX_LINE:
            raise UnreadableSource(f"a line is longer than {MAX_LINE} bytes")
        for part in parts:
            yield part[:-1] if part.endswith(b"\r") else part
    if not seen:
        raise UnreadableSource("empty object")
    if carry:
        yield carry


def _scalar(value: object) -> str | None:
    """A JSON value as source text; ``None`` is NULL. Objects and arrays are refused."""
    if value is None or type(value) is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    raise TypeError(f"a {type(value).__name__} is not a scalar value")


def _record(line: bytes, sources: list[str], known: frozenset[str]) -> list[str | None] | str:
    """The source values of a line, or the reason it has none."""
    if not line.strip():
        return "blank line"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON (or not UTF-8): {exc}"
    if type(obj) is not dict:
        return f"not a JSON object but a {type(obj).__name__}"
    if not obj.keys() <= known:
        extra = sorted(k for k in obj if k not in known)
        return f"unexpected field(s) {extra}"
    try:
        return [_scalar(obj.get(s)) for s in sources]
    except TypeError as exc:
        return str(exc)


def produce_jsonl(stream: BinaryIO, writer: BatchWriter, *, vectorized: bool = True) -> None:
    contract = writer.identity.contract
    sink = RowSink(writer, Validator(contract, csv=False, vectorized=vectorized))
    sources = [c.source for c in contract.columns]
    known = frozenset(sources)
    empty: list[str | None] = [None] * len(sources)
    lines = _lines(stream, writer)
    rows_read = 0
    limit = writer.row_limit
    while group := list(islice(lines, limit)):
        records = [_record(line, sources, known) for line in group]
        values = [
            FieldError(column=None, value=None, reason=r) if isinstance(r, str) else r
            for r in records
        ]
        rows = [empty if isinstance(r, str) else r for r in records]
        columns = [pa.array(c, pa.string()) for c in zip(*rows, strict=True)]
        unusable = pa.array([isinstance(r, str) for r in records], pa.bool_())
        limit = sink.send(
            columns,
            rows_read + 1,
            listed(values),
            group.__getitem__,
            unusable,
        )
        rows_read += len(group)
    writer.finish([], rows_read)
