"""Clean lines split into string columns by Arrow: the CSV reader's fast split.

A block of lines is *clean* when it holds no quote, escape character, NUL or lone carriage
return (and is valid UTF-8, checked by ``text_blocks``): then every line is one record, split
at the delimiter exactly as the ``csv`` module would split it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from batchpipe_common.contracts import Dialect


@dataclass(frozen=True)
class CleanRows:
    """Clean lines split into string columns (in file order); ``unusable`` marks the lines
    whose field count is not the header's (or that are blank): their values are nulls."""

    columns: list[pa.Array]
    unusable: pa.Array | None

    @property
    def num_rows(self) -> int:
        return len(self.columns[0])

    def slice(self, start: int, length: int) -> CleanRows:
        unusable = None if self.unusable is None else self.unusable.slice(start, length)
        return CleanRows([c.slice(start, length) for c in self.columns], unusable)

    @staticmethod
    def concat(parts: list[CleanRows]) -> CleanRows:
        if len(parts) == 1:
            return parts[0]
        width = len(parts[0].columns)
        columns = [pa.concat_arrays([p.columns[i] for p in parts]) for i in range(width)]
        if all(p.unusable is None for p in parts):
            return CleanRows(columns, None)
        flags = [pa.repeat(False, p.num_rows) if p.unusable is None else p.unusable for p in parts]
        return CleanRows(columns, pa.concat_arrays(flags))


class CleanBlockParser:
    """Splits clean lines into ``width`` string columns: Arrow's CSV reader, or, when a line
    has another field count (which Arrow refuses), a split that marks those lines."""

    def __init__(self, dialect: Dialect) -> None:
        self.delimiter = dialect.delimiter
        self.forbidden = [dialect.quote.encode(), b"\x00"]
        if dialect.escape:
            self.forbidden.append(dialect.escape.encode())
        self._parse = pa_csv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        )

    def is_clean(self, data: bytes) -> bool:
        """No quote, escape or NUL, no lone carriage return: csv and Arrow split it alike."""
        if any(c in data for c in self.forbidden):
            return False
        returns = data.count(b"\r")
        return returns == 0 or returns == data.count(b"\r\n")

    def parse(self, data: bytes, lines: int, width: int) -> CleanRows:
        """The ``lines`` lines of ``data`` (clean, UTF-8) as ``width`` string columns."""
        if width == 1:  # Arrow would read a blank line as an empty value, not a blank line
            return self._split(data, lines, width)
        names = [f"f{i}" for i in range(width)]
        read = pa_csv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(len(data), 1) + 1
        )
        convert = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data),
                read_options=read,
                parse_options=self._parse,
                convert_options=convert,
            )
        except pa.ArrowInvalid:
            table = None
        if table is not None and table.num_rows == lines:
            return CleanRows([c.combine_chunks() for c in table.columns], None)
        return self._split(data, lines, width)

    def _split(self, data: bytes, lines: int, width: int) -> CleanRows:
        text = data.decode("utf-8").replace("\r\n", "\n")
        parts = text.split("\n")
        if text.endswith("\n"):
            parts.pop()
        assert len(parts) == lines
        fields = pc.split_pattern(pa.array(parts, pa.string()), self.delimiter)
        usable = pc.and_(
            pc.equal(pc.list_value_length(fields), width),
            pc.not_equal(pa.array(parts, pa.string()), ""),
        )
        good = pc.filter(fields, usable)
        empty = pa.nulls(lines, pa.string())
        columns = [
            pc.replace_with_mask(empty, usable, pc.list_element(good, i)) for i in range(width)
        ]
        return CleanRows(columns, pc.invert(usable))
