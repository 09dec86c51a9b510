"""CSV objects: decode block by block, parse with the csv module, validate, serialize.

The bytes are cut into blocks at the last line break, each block is decoded on its own and
handed to one ``csv.reader`` as a chain of line iterators, so parsing stays in C. A block
that is not valid in the contract's encoding is decoded with ``surrogateescape``: the rows
that hold the bad bytes are rejected when their chunk is encoded, the others go through.
The last few blocks are kept to recover the raw text of a rejected record.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, compress, islice, repeat
from typing import Any, BinaryIO

from batchpipe_common.contracts import Contract
from batchpipe_common.wire import FieldError
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.column_batch import ColumnBatch
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.validation import RowValidator

BLOCK_SIZE = 1024 * 1024
MAX_LINE = 64 * 1024 * 1024
"""A physical line longer than this fails the run instead of growing memory without bound."""
_KEPT_BLOCKS = 4


class TextBlocks:
    """Decoded blocks of whole lines, with a window of recent blocks for raw-line lookup."""

    def __init__(
        self,
        stream: BinaryIO,
        encoding: str,
        check: Callable[[], None],
        block_size: int = BLOCK_SIZE,
    ) -> None:
        if "\n,\"'".encode(encoding, "replace") != b"\n,\"'":
            raise UnreadableSource(
                f"encoding {encoding!r} is not ASCII-compatible; the CSV reader needs one"
            )
        self.stream = stream
        self.encoding = encoding
        self.check = check
        self.block_size = block_size
        self.bytes_seen = 0
        self.lines_seen = 0
        self.recent: deque[tuple[int, int, str]] = deque(maxlen=_KEPT_BLOCKS)
        self._utf8 = codecs.lookup(encoding).name == "utf-8"

    def _decode(self, data: bytes) -> io.StringIO:
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError:
            text = data.decode(self.encoding, "surrogateescape")
        count = text.count("\n") + text.count("\r") - text.count("\r\n")
        if text and text[-1] not in "\r\n":
            count += 1
        self.recent.append((self.lines_seen, count, text))
        self.lines_seen += count
        return io.StringIO(text, newline="")

    def __iter__(self) -> Iterator[io.StringIO]:
        carry = b""
        first = True
        while True:
            self.check()
            data = self.stream.read(self.block_size)
            if not data:
                break
            self.bytes_seen += len(data)
            if first and self._utf8 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
            first = False
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                if len(buf) > MAX_LINE:
                    raise UnreadableSource(f"a line is longer than {MAX_LINE} bytes")
                carry = buf
                continue
            carry = buf[cut:]
            yield self._decode(buf[:cut])
        if carry:
            yield self._decode(carry)

    def raw(self, start: int, end: int) -> str:
        """Source text of lines ``start`` to ``end`` (0-based, end excluded), if still kept."""
        parts: list[str] = []
        for first, count, text in self.recent:
            if first + count <= start or first >= end:
                continue
            lines = io.StringIO(text, newline="").readlines()
            parts.extend(lines[max(0, start - first) : end - first])
        raw = "".join(parts)
        if raw.endswith("\r\n"):
            return raw[:-2]
        return raw[:-1] if raw.endswith(("\n", "\r")) else raw


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


def _read_records(reader: Any, count: int) -> list[list[str]]:
    """Up to ``count`` records; a record the csv module refuses becomes a ``_Malformed``."""
    records: list[list[str]] = []
    while len(records) < count:
        try:
            records.extend(islice(reader, count - len(records)))
            break
        except csv.Error as exc:
            records.append(_Malformed(f"malformed CSV: {exc}", reader.line_num))
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
    """Parse, validate and send every record of a CSV stream, one chunk-sized block at a time."""
    contract = writer.identity.contract
    dialect = contract.dialect
    blocks = TextBlocks(stream, dialect.encoding, writer.check_cancelled)
    reader = csv.reader(
        chain.from_iterable(blocks),
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
    rows_read = 0
    limit = writer.row_limit
    while True:
        line_before = reader.line_num
        records = _read_records(reader, limit)
        if not records:
            break
        one_line_each = reader.line_num - line_before == len(records)

        def raw(
            index: int,
            records: list[list[str]] = records,
            start: int = line_before,
            simple: bool = one_line_each,
        ) -> str:
            record = records[index]
            if simple:
                return blocks.raw(start + index, start + index + 1)
            if isinstance(record, _Malformed):
                return blocks.raw(record.line_num - 1, record.line_num)
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
