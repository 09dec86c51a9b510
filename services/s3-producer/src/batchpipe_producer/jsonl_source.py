"""JSON Lines objects: one JSON object per line, keys are the contract's source column names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import orjson

from batchpipe_producer.chunks import BatchWriter, RowLoop
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.validation import RowValidator

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


def produce_jsonl(stream: BinaryIO, writer: BatchWriter) -> None:
    contract = writer.identity.contract
    validator = RowValidator(contract, empty_is_null=False)
    sources = [c.source for c in contract.columns]
    known = frozenset(sources)
    loop = RowLoop(writer, validator)
    for line in _lines(stream, writer):
        if not line.strip():
            loop.add_bad(line, "blank line")
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            loop.add_bad(line, f"not valid JSON (or not UTF-8): {exc}")
            continue
        if type(obj) is not dict:
            loop.add_bad(line, f"not a JSON object but a {type(obj).__name__}")
            continue
        if not obj.keys() <= known:
            extra = sorted(k for k in obj if k not in known)
            loop.add_bad(line, f"unexpected field(s) {extra}")
            continue
        try:
            values = [_scalar(obj.get(s)) for s in sources]
        except TypeError as exc:
            loop.add_bad(line, str(exc))
            continue
        loop.add(values, lambda line=line: line)  # type: ignore[misc]
    loop.finish()
