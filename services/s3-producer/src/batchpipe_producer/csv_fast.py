"""The CSV fast path: clean blocks parsed, checked and written by Arrow, outside the GIL.

Most CSV objects are made of lines that already are their wire form: no quoting, every value
valid and canonical. For those, the wire line is the source line plus ``,<batch_id>,<row>``,
and no per-row Python work is needed. A block of lines is *clean* when it is strictly decoded
UTF-8 without a quote, a NUL, a lone carriage return or a blank line: then every line is one
record, split at the delimiter, exactly as the ``csv`` module would split it. Clean blocks are
parsed by Arrow's CSV reader into string columns; a group of rows is accepted when every
column passes a check that is *sufficient* for the exact per-value rules of ``validation``:

- low-cardinality kinds (text, date) run the ``column_batch`` check on the distinct values;
- numbers run the same syntax pattern (RE2, the patterns are plain enough to mean the same)
  and the same bounds test on Arrow's correctly rounded casts.

Anything else (a failed check, a cast that Arrow refuses) sends the group to the exact path of
``csv_source``, which decides row by row. The fast path never decides a reject.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from batchpipe_common.contracts import Column, Contract
from batchpipe_producer.column_batch import CANONICAL_INT, batch_check
from batchpipe_producer.validation import INT_RANGE, numeric_pattern

ArrowCheck = Callable[[pa.ChunkedArray], bool]
"""True when every value of the column is valid and already in wire form."""

_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def fast_path_possible(contract: Contract, reordered: bool) -> bool:
    """Whether clean lines of this contract can go out unchanged (plus lineage)."""
    dialect = contract.dialect
    return (
        not reordered
        and dialect.delimiter == ","
        and dialect.quote == '"'
        and dialect.encoding.replace("_", "-").lower() in ("utf-8", "utf8")
        and all(batch_check(column) is not None for column in contract.columns)
    )


def is_clean(data: bytes) -> bool:
    """No quote, no NUL, no lone carriage return: the csv module and Arrow split it alike.

    Blank lines are left to ``CleanBlockParser``: Arrow skips them, so the row count tells.
    """
    if b'"' in data or b"\x00" in data:
        return False
    returns = data.count(b"\r")
    return returns == 0 or returns == data.count(b"\r\n")


class CleanBlockParser:
    """Arrow's CSV reader set up to split clean lines into string columns, nothing else."""

    def __init__(self, contract: Contract) -> None:
        self.names = [column.name for column in contract.columns]
        self._parse = pa_csv.ParseOptions(
            delimiter=",",
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
        )
        self._convert = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in self.names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def parse(self, data: bytes, lines: int) -> pa.Table | None:
        """The ``lines`` lines of ``data`` as a table, or None when Arrow splits them otherwise
        (a blank line, which Arrow skips, or a line with the wrong number of fields)."""
        read = pa_csv.ReadOptions(
            column_names=self.names, use_threads=False, block_size=max(len(data), 1) + 1
        )
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data),
                read_options=read,
                parse_options=self._parse,
                convert_options=self._convert,
            )
        except pa.ArrowInvalid:
            return None
        return table if table.num_rows == lines else None


def _distinct_check(column: Column) -> ArrowCheck:
    """The ``column_batch`` check run on the distinct values (same answer, fewer values)."""
    check = batch_check(column)
    assert check is not None

    def distinct(values: pa.ChunkedArray) -> bool:
        return check(pc.unique(values).to_pylist())

    return distinct


def _present(column: Column, values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Non-empty values; None when an empty value is not allowed (NULL in a NOT NULL column)."""
    empty = pc.equal(values, "")
    if not pc.any(empty).as_py():
        return values
    if not column.nullable:
        return None
    return pc.filter(values, pc.invert(empty))


def _all_match(values: pa.ChunkedArray, pattern: re.Pattern[str]) -> bool:
    if len(values) == 0:
        return True
    matches = pc.match_substring_regex(values, f"^(?:{pattern.pattern})$")
    return bool(pc.all(matches).as_py())


def _numeric_check(column: Column) -> ArrowCheck:
    pattern = numeric_pattern(column, leading_zeros=False)
    cmin, cmax = column.checks.min, column.checks.max
    low = float(cmin) if cmin is not None else None
    high = float(cmax) if cmax is not None else None

    def numeric(values: pa.ChunkedArray) -> bool:
        present = _present(column, values)
        if present is None or not _all_match(present, pattern):
            return False
        if len(present) == 0 or (low is None and high is None):
            return True
        bounds = pc.min_max(pc.cast(present, pa.float64()))
        smallest, largest = bounds["min"].as_py(), bounds["max"].as_py()
        # As in column_batch: strictly inside the bounds as doubles is inside them exactly.
        return (low is None or low < smallest) and (high is None or largest < high)

    return numeric


def _integer_check(column: Column) -> ArrowCheck:
    low, high = INT_RANGE[column.column_type.kind]
    if column.checks.min is not None:
        low = max(low, math.ceil(column.checks.min))
    if column.checks.max is not None:
        high = min(high, math.floor(column.checks.max))

    def integer(values: pa.ChunkedArray) -> bool:
        present = _present(column, values)
        if present is None or not _all_match(present, CANONICAL_INT):
            return False
        if len(present) == 0:
            return True
        bounds = pc.min_max(pc.cast(present, pa.int64()))
        return bool(low <= bounds["min"].as_py() and bounds["max"].as_py() <= high)

    return integer


def arrow_check(column: Column) -> ArrowCheck:
    kind = column.column_type.kind
    if kind == "numeric":
        return _numeric_check(column)
    if kind in ("integer", "bigint"):
        return _integer_check(column)
    return _distinct_check(column)


class CleanRowsCheck:
    """Accepts a table of clean rows when every column is valid and in wire form."""

    def __init__(self, contract: Contract) -> None:
        self._checks = [arrow_check(column) for column in contract.columns]

    def __call__(self, rows: pa.Table) -> bool:
        try:
            return all(check(rows.column(i)) for i, check in enumerate(self._checks))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False


class Lineage:
    """The ``_batch_id`` and ``_source_row`` columns of a run, sliced to each group of rows."""

    def __init__(self, batch_id: str, max_rows: int) -> None:
        self._batch_ids = pa.repeat(batch_id, max_rows)
        self._offsets = pa.array(range(max_rows), pa.int64())

    def add_to(self, rows: pa.Table, first_row: int) -> ArrowWireRows:
        """``rows`` (at most ``max_rows``) with their lineage, the first being ``first_row``."""
        count = rows.num_rows
        source_rows = pc.add(self._offsets.slice(0, count), first_row)
        return ArrowWireRows(
            rows.append_column("_batch_id", self._batch_ids.slice(0, count)).append_column(
                "_source_row", source_rows
            )
        )


@dataclass(frozen=True)
class ArrowWireRows:
    """Valid rows in wire form (the source columns, then ``_batch_id`` and ``_source_row``)."""

    table: pa.Table

    def __len__(self) -> int:
        count: int = self.table.num_rows
        return count

    @property
    def first_row(self) -> int:
        first: int = self.table.column(self.table.num_columns - 1)[0].as_py()
        return first

    def halves(self) -> tuple[ArrowWireRows, ArrowWireRows]:
        half = len(self) // 2
        return ArrowWireRows(self.table.slice(0, half)), ArrowWireRows(self.table.slice(half))

    def body(self) -> bytes:
        """The rows as wire lines, each ending in ``\\n`` (no header)."""
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(self.table, sink, _WRITE_OPTIONS)
        body: bytes = sink.getvalue().to_pybytes()
        return body
