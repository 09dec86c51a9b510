"""Splitting a chunk's CSV body into records: only on the error path (a refused chunk).

A record ends at a line feed outside quotes. In RFC 4180 a quote inside a quoted field is
doubled, so a line feed is outside quotes exactly when the record so far holds an even number
of quote characters.
"""

from __future__ import annotations

import csv
import io


def split_records(body: bytes) -> list[bytes]:
    """The records of ``body``, each with its trailing line feed."""
    records: list[bytes] = []
    start = 0
    quotes = 0
    pos = 0
    size = len(body)
    while pos < size:
        newline = body.find(b"\n", pos)
        if newline < 0:
            newline = size - 1
        quotes += body.count(b'"', pos, newline + 1)
        pos = newline + 1
        if quotes % 2 == 0:
            record = body[start:pos]
            if record.strip():
                records.append(record if record.endswith(b"\n") else record + b"\n")
            start = pos
            quotes = 0
    if start < size and body[start:].strip():
        records.append(body[start:] + b"\n")
    return records


def field_of(record: bytes, index: int) -> str | None:
    """Field ``index`` of one CSV record, or None when the record does not parse that far."""
    try:
        text = record.decode("utf-8", "replace")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    if len(rows) != 1 or index >= len(rows[0]):
        return None
    return rows[0][index]
