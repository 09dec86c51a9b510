"""CSV objects: read as blocks of lines, split into string columns, validated block by block.

Each group of up to ``row_limit`` records is split into one string column per header column:
clean lines by Arrow (see ``text_blocks``), the others by one ``csv.reader`` over the line feed
(quoted values, other encodings, malformed lines). Either way the group then goes to the
validator (``validator``) and the ``RowSink``, so a group's chunk does not depend on how its
lines were split; a record with the wrong number of fields is rejected before validation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

import pyarrow as pa

from batchpipe_common.contracts import Contract
from batchpipe_common.wire import FieldError
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.text_blocks import LineFeed, TextBlocks
from batchpipe_producer.validator import Validator
from batchpipe_producer.wire_rows import RowSink, listed


class Layout:
    """Where each contract column sits in a record, from the header (or contract order)."""

    def __init__(self, contract: Contract, header: Sequence[str] | None) -> None:
        sources = [c.source for c in contract.columns]
        if header is None:
            self.width, self.order = len(sources), list(range(len(sources)))
            return
        names = [h.strip() for h in header]
        try:
            "".join(names).encode("utf-8")
        except UnicodeEncodeError:
            raise UnreadableSource(
                f"the header line cannot be decoded as {contract.dialect.encoding}"
            ) from None
        missing = [s for s in sources if s not in names]
        unexpected = [n for n in names if n not in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if contract.extra_columns == "ignore":
            unexpected = []
        if missing or unexpected or dupes:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unexpected:
                problems.append(f"unexpected {unexpected}")
            if dupes:
                problems.append(f"duplicated {dupes}")
            raise UnreadableSource(
                f"wrong header: expected the columns {sources}, got {names} ({'; '.join(problems)})"
            )
        self.width = len(names)
        self.order = [names.index(s) for s in sources]

    def record(self, fields: Sequence[str]) -> list[str] | FieldError:
        """The contract's values of a record (in contract order), or why it has none."""
        if len(fields) == self.width and fields != [""]:
            return [fields[i] for i in self.order]
        if not fields or fields == [""]:
            return FieldError(column=None, value=None, reason="blank line")
        reason = f"expected {self.width} columns, found {len(fields)}"
        return FieldError(column=None, value=None, reason=reason)


@dataclass(frozen=True)
class _Malformed:
    """A record the csv module refused (bad quoting), and the line where the reader stopped."""

    reason: str
    line_num: int


def _read_records(reader: Any, feed: LineFeed, count: int) -> list[list[str] | _Malformed]:
    """Up to ``count`` records; a record the csv module refuses becomes a ``_Malformed``."""
    records: list[list[str] | _Malformed] = []
    while len(records) < count:
        try:
            records.extend(islice(reader, count - len(records)))
            break
        except csv.Error as exc:
            records.append(_Malformed(f"malformed CSV: {exc}", feed.line_num))
    return records


def _columns(values: list[list[str] | FieldError], width: int) -> tuple[list[pa.Array], pa.Array]:
    """Contract-order string columns of a group (nulls for unusable rows) and which are."""
    unusable = [not isinstance(v, list) for v in values]
    rows = [v if isinstance(v, list) else [None] * width for v in values]
    try:
        columns = [pa.array(c, pa.string()) for c in zip(*rows, strict=True)] if rows else []
    except (UnicodeEncodeError, pa.ArrowException):
        # Undecodable bytes (surrogates) cannot enter Arrow: those rows are unusable.
        for index, row in enumerate(rows):
            if not unusable[index] and not _encodable(row):
                unusable[index], rows[index] = True, [None] * width
        columns = [pa.array(c, pa.string()) for c in zip(*rows, strict=True)]
    if not columns:
        columns = [pa.array([], pa.string()) for _ in range(width)]
    return columns, pa.array(unusable, pa.bool_())


def _encodable(row: Sequence[str | None]) -> bool:
    try:
        "".join(v or "" for v in row).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def produce_csv(stream: BinaryIO, writer: BatchWriter, *, vectorized: bool = True) -> None:
    """Parse, validate and send every record of a CSV stream, one chunk-sized group at a time.

    ``vectorized=False`` sends every value through the exact converter (the parity reference).
    """
    contract = writer.identity.contract
    dialect = contract.dialect
    blocks = TextBlocks(stream, dialect, writer.check_cancelled)
    feed = LineFeed(blocks)
    reader = csv.reader(
        feed,
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        escapechar=dialect.escape,
        doublequote=True,
        strict=True,
    )
    header = None
    if dialect.header:
        try:
            header = next(reader)
        except StopIteration:
            raise UnreadableSource("empty object: no header line") from None
        except csv.Error as exc:
            raise UnreadableSource(f"the header line is not valid CSV: {exc}") from None
    layout = Layout(contract, header)
    sink = RowSink(writer, Validator(contract, csv=True, vectorized=vectorized))
    width = len(contract.columns)
    rows_read = 0
    limit = writer.row_limit
    while True:
        feed.mark()
        start = feed.line_num
        clean = feed.clean_rows(limit, layout.width)
        if clean is not None:
            feed.skip(clean.num_rows)

            def clean_raw(index: int, start: int = start) -> str:
                return feed.raw(start + index, start + index + 1)

            def clean_record(_index: int, raw: str | bytes) -> list[str] | FieldError:
                assert isinstance(raw, str)
                return layout.record(raw.split(dialect.delimiter) if raw else [])

            columns = [clean.columns[i] for i in layout.order]
            limit = sink.send(columns, rows_read + 1, clean_record, clean_raw, clean.unusable)
            rows_read += clean.num_rows
            continue
        records = _read_records(reader, feed, limit)
        if not records:
            break
        one_line_each = feed.line_num - start == len(records)
        values = [
            FieldError(column=None, value=None, reason=r.reason)
            if isinstance(r, _Malformed)
            else layout.record(r)
            for r in records
        ]

        def raw(
            index: int,
            records: list[list[str] | _Malformed] = records,
            start: int = start,
            simple: bool = one_line_each,
        ) -> str:
            record = records[index]
            if simple:
                return feed.raw(start + index, start + index + 1)
            if isinstance(record, _Malformed):
                return feed.raw(record.line_num - 1, record.line_num)
            return _render(record, dialect.delimiter, dialect.quote)

        columns, unusable = _columns(values, width)
        limit = sink.send(columns, rows_read + 1, listed(values), raw, unusable)
        rows_read += len(records)
    if blocks.bytes_seen == 0:
        raise UnreadableSource("empty object")
    writer.finish([], rows_read)


def _render(record: list[str], delimiter: str, quote: str) -> str:
    """A record re-serialized, when its exact source text spans lines of several records."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quotechar=quote, lineterminator="").writerow(record)
    return out.getvalue()
