"""Column-at-a-time validation of a block of CSV records: the producer's fast path.

Per-value Python calls cost about a microsecond each on this hardware, so the CSV path checks a
whole column of a block with a few C-level passes instead: distinct values for low-cardinality
columns (dates, allowed values, city names), one regular expression over the joined column for
numbers, ``min``/``max`` over ``map(float, ...)`` for bounds. When a column passes, its source
values already are their wire form and go through untouched. When it does not, that column
alone is converted value by value with the converters of ``validation`` (the single source of
the rules and of the reasons), which also says which rows are bad.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date

from batchpipe_common.contracts import Column
from batchpipe_producer.validation import (
    INT_RANGE,
    Converter,
    column_converter,
    numeric_pattern,
    quote_text,
)

ColumnValues = Sequence[str]
BatchCheck = Callable[[ColumnValues], bool]
"""True when every value of the column is valid and already in wire form (CSV mode)."""

_NEEDS_QUOTING = re.compile(r'[",\r\n\x00]')
CANONICAL_INT = re.compile(r"-?(?:0|[1-9]\d{0,18})", re.ASCII)


def _non_empty_ok(column: Column, values: ColumnValues) -> bool:
    """Empty CSV fields are NULLs: fine in a nullable column (wire NULL is the empty field)."""
    return column.nullable or all(values)


def _text_check(column: Column) -> BatchCheck:
    checks = column.checks
    if checks.allowed is not None:
        plain = frozenset(v for v in checks.allowed if quote_text(v) == v)
        allowed = plain | {""} if column.nullable else plain

        def allowed_check(values: ColumnValues) -> bool:
            return set(values) <= allowed

        return allowed_check
    pattern = re.compile(checks.regex) if checks.regex is not None else None

    def text_check(values: ColumnValues) -> bool:
        if not _non_empty_ok(column, values):
            return False
        if pattern is None:
            return _NEEDS_QUOTING.search("".join(values)) is None
        search = pattern.search
        for value in set(values):
            if value and (search(value) is None or _NEEDS_QUOTING.search(value)):
                return False
        return True

    return text_check


def _date_check(column: Column) -> BatchCheck:
    fromisoformat = date.fromisoformat

    def date_check(values: ColumnValues) -> bool:
        if not _non_empty_ok(column, values):
            return False
        try:
            return all(fromisoformat(v).isoformat() == v for v in set(values) if v)
        except ValueError:
            return False

    return date_check


def _joined_syntax(
    column: Column, pattern: re.Pattern[str]
) -> Callable[[ColumnValues], list[str] | None]:
    """Non-empty values when all match ``pattern`` (one regex over the joined column)."""
    whole = re.compile(rf"(?:{pattern.pattern})(?:\n(?:{pattern.pattern}))*", re.ASCII)

    def syntax(values: ColumnValues) -> list[str] | None:
        present = list(filter(None, values))
        if len(present) != len(values) and not column.nullable:
            return None
        if present and whole.fullmatch("\n".join(present)) is None:
            return None
        return present

    return syntax


def _numeric_check(column: Column) -> BatchCheck:
    syntax = _joined_syntax(column, numeric_pattern(column, leading_zeros=False))
    cmin, cmax = column.checks.min, column.checks.max
    low = float(cmin) if cmin is not None else None
    high = float(cmax) if cmax is not None else None

    def numeric_check(values: ColumnValues) -> bool:
        present = syntax(values)
        if present is None:
            return False
        if not present or (low is None and high is None):
            return True
        numbers = list(map(float, present))
        # Strictly inside the bounds as doubles is inside them exactly (rounding to a double is
        # monotonic); values next to a bound take the exact per-value path.
        return (low is None or low < min(numbers)) and (high is None or max(numbers) < high)

    return numeric_check


def _integer_check(column: Column) -> BatchCheck:
    syntax = _joined_syntax(column, CANONICAL_INT)
    low, high = INT_RANGE[column.column_type.kind]
    if column.checks.min is not None:
        low = max(low, math.ceil(column.checks.min))
    if column.checks.max is not None:
        high = min(high, math.floor(column.checks.max))

    def integer_check(values: ColumnValues) -> bool:
        present = syntax(values)
        if present is None:
            return False
        if not present:
            return True
        numbers = list(map(int, present))
        return low <= min(numbers) and max(numbers) <= high

    return integer_check


def batch_check(column: Column) -> BatchCheck | None:
    """The column's fast check, or None when the type has none (always per value)."""
    kind = column.column_type.kind
    if kind == "text":
        return _text_check(column)
    if kind == "date":
        return _date_check(column)
    if kind == "numeric":
        return _numeric_check(column)
    if kind in ("integer", "bigint"):
        return _integer_check(column)
    return None


class ColumnBatch:
    """Validates and converts one column of a block; reports the rows it rejects."""

    def __init__(self, column: Column) -> None:
        self.name = column.name
        self.check = batch_check(column)
        self.convert: Converter = column_converter(column, empty_is_null=True).convert

    def run(self, values: ColumnValues) -> tuple[ColumnValues, list[int]]:
        """(wire values, indexes of bad rows). Bad rows get ``""`` as a placeholder."""
        if self.check is not None and self.check(values):
            return values, []
        convert = self.convert
        out: list[str] = []
        bad: list[int] = []
        for index, value in enumerate(values):
            try:
                out.append(convert(value))
            except (ValueError, ArithmeticError):
                out.append("")
                bad.append(index)
        return out, bad
