"""CSV objects: read as blocks of lines, parse, validate, serialize; a fast path for clean rows.

Each group of up to ``row_limit`` records is first offered to the fast path (``csv_fast``):
when its lines are clean and every column passes, Arrow writes them out as they are, plus
lineage. Otherwise the group takes the exact path: one ``csv.reader`` over the line feed
(parsing in C), validation column by column (``CsvBlockProcessor``), ``",".join`` of the wire
values, one dead letter per rejected record. Both paths cut the same groups, so the chunks do
not depend on which path a group took.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from itertools import compress, islice, repeat
from typing import Any, BinaryIO

from batchpipe_common.contracts import Contract
from batchpipe_common.wire import FieldError
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.column_batch import ColumnBatch
from batchpipe_producer.csv_fast import (
    CleanBlockParser,
    CleanRowsCheck,
    Lineage,
    fast_path_possible,
)
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.text_blocks import LineFeed, TextBlocks
from batchpipe_producer.validation import RowValidator


def _column_order(
    header: Sequence[str], contract: Contract
) -> Callable[[list[str]], list[str]] | None:
    """Check the header names the contract's source columns; the reordering it needs, if any."""
    names = [h.strip() for h in header]
    sources = [c.source for c in contract.columns]
    try:
        "".join(names).encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableSource(
            f"the header line cannot be decoded as {contract.dialect.encoding}"
        ) from None
    missing = [s for s in sources if s not in names]
    unexpected = [n for n in names if n not in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
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
    order = [names.index(s) for s in sources]
    if order == list(range(len(order))):
        return None
    return lambda record: [record[i] for i in order]


class _Malformed(list[str]):
    """Stands in for a record the csv module refused (bad quoting); never has the right width."""

    def __init__(self, reason: str, line_num: int) -> None:
        super().__init__()
        self.reason = reason
        self.line_num = line_num


def _read_records(reader: Any, feed: LineFeed, count: int) -> list[list[str]]:
    """Up to ``count`` records; a record the csv module refuses becomes a ``_Malformed``."""
    records: list[list[str]] = []
    while len(records) < count:
        try:
            records.extend(islice(reader, count - len(records)))
            break
        except csv.Error as exc:
            records.append(_Malformed(f"malformed CSV: {exc}", feed.line_num))
    return records


class CsvBlockProcessor:
    """Validates a block of records column by column and writes its wire lines."""

    def __init__(self, writer: BatchWriter, reorder: Callable[[list[str]], list[str]] | None):
        contract = writer.identity.contract
        self.writer = writer
        self.validator = RowValidator(contract, empty_is_null=True)
        self.columns = [ColumnBatch(c) for c in contract.columns]
        self.width = len(self.columns)
        self.reorder = reorder
        self.batch_id = writer.identity.batch_id
        self.csv_dialect = contract.dialect

    def lines(
        self, records: list[list[str]], first_row: int, raw: Callable[[int], str]
    ) -> list[str]:
        """Wire lines of the valid records; rejects the others. ``raw(i)``: text of record i."""
        width = self.width
        if set(map(len, records)) != {width}:
            good = []
            for index, record in enumerate(records):
                if len(record) == width:
                    good.append(index)
                else:
                    self._reject(first_row + index, raw(index), record)
            kept = [records[i] for i in good]
            rows = [first_row + i for i in good]
        else:
            kept = records
            rows = list(range(first_row, first_row + len(records)))
        if not kept:
            return []
        if self.reorder is not None:
            kept = list(map(self.reorder, kept))
        columns: list[Sequence[str]] = []
        bad: set[int] = set()
        for column, values in zip(self.columns, zip(*kept, strict=True), strict=True):
            out, rejected = column.run(values)
            columns.append(out)
            bad.update(rejected)
        row_texts = list(map(str, rows))
        wire = map(",".join, zip(*columns, repeat(self.batch_id), row_texts, strict=False))
        if not bad:
            return list(wire)
        for index in sorted(bad):
            row = rows[index]
            self._reject(row, raw(row - first_row), kept[index])
        keep = [i not in bad for i in range(len(kept))]
        return list(compress(wire, keep))

    def _reject(self, row: int, raw: str, record: list[str]) -> None:
        if isinstance(record, _Malformed):
            errors = [FieldError(column=None, value=None, reason=record.reason)]
        else:
            errors = self.validator.errors(record)
        self.writer.reject(row, raw, errors)


def produce_csv(stream: BinaryIO, writer: BatchWriter) -> None:
    """Parse, validate and send every record of a CSV stream, one chunk-sized group at a time."""
    contract = writer.identity.contract
    dialect = contract.dialect
    parser = CleanBlockParser(contract) if fast_path_possible(contract, False) else None
    blocks = TextBlocks(
        stream, dialect.encoding, writer.check_cancelled, parser=parser, header=dialect.header
    )
    feed = LineFeed(blocks)
    reader = csv.reader(
        feed,
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        doublequote=True,
        strict=True,
    )
    reorder = None
    if dialect.header:
        try:
            header = next(reader)
        except StopIteration:
            raise UnreadableSource("empty object: no header line") from None
        except csv.Error as exc:
            raise UnreadableSource(f"the header line is not valid CSV: {exc}") from None
        reorder = _column_order(header, contract)
    processor = CsvBlockProcessor(writer, reorder)
    check = (
        CleanRowsCheck(contract) if parser and fast_path_possible(contract, bool(reorder)) else None
    )
    lineage = Lineage(writer.identity.batch_id, writer.max_rows) if check else None
    rows_read = 0
    limit = writer.row_limit
    while True:
        feed.mark()
        if check is not None and lineage is not None:
            rows = feed.clean_rows(limit)
            if rows is not None and check(rows):
                feed.skip(rows.num_rows)
                encoded = lineage.add_to(rows, rows_read + 1)
                rows_read += rows.num_rows
                limit = writer.flush_encoded(encoded, rows_read)
                continue
        line_before = feed.line_num
        records = _read_records(reader, feed, limit)
        if not records:
            break
        one_line_each = feed.line_num - line_before == len(records)

        def raw(
            index: int,
            records: list[list[str]] = records,
            start: int = line_before,
            simple: bool = one_line_each,
        ) -> str:
            record = records[index]
            if simple:
                return feed.raw(start + index, start + index + 1)
            if isinstance(record, _Malformed):
                return feed.raw(record.line_num - 1, record.line_num)
            return _render(record, dialect.delimiter, dialect.quote)

        lines = processor.lines(records, rows_read + 1, raw)
        rows_read += len(records)
        limit = writer.flush(lines, rows_read)
    if blocks.bytes_seen == 0:
        raise UnreadableSource("empty object")
    writer.finish([], rows_read)


def _render(record: list[str], delimiter: str, quote: str) -> str:
    """A record re-serialized, when its exact source text spans lines of several records."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quotechar=quote, lineterminator="").writerow(record)
    return out.getvalue()
