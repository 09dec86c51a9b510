"""The vectorized checks: Arrow compute over a whole column marks the values that are valid
*and* already in their wire form (or gives that form: doubles, formatted dates and timestamps).

``fast_check`` gives a column's check, or None (booleans, epochs, timestamptz, decimals with a
``,`` separator, formats beyond plain numeric codes: each distinct value then goes to the exact
converter). A check is *sufficient*, never decisive: it only accepts what the exact converter
(``value_rules``) accepts, with the same wire form; the validator sends every other value to
that converter (the parity test holds the two together).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from batchpipe_common.contracts import EPOCH_FORMATS, Column, Contract
from batchpipe_producer.value_rules import int_bounds, numeric_pattern, quote_text

FastCheck = Callable[[pa.Array], tuple[pa.Array, pa.Array | None]]
"""(True where a non-null value is valid, its wire form or None when that is the value itself);
it only accepts what the exact converter accepts, with the same wire form."""

_NEEDS_QUOTING = '[",\\r\\n\\x00]'
_CANONICAL_INT = r"0|-?[1-9]\d{0,17}"
_FLOAT_SYNTAX = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?"
_YEAR = r"[1-9]\d{3}-.*"


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(values, f"^(?:{pattern})$")


def _fast_text(column: Column) -> FastCheck:
    checks = column.checks
    if checks.allowed is not None:
        plain = pa.array([v for v in checks.allowed if v and quote_text(v) == v], pa.string())
        return lambda values: (pc.is_in(values, value_set=plain), None)
    pattern = re.compile(checks.regex) if checks.regex is not None else None

    def text(values: pa.Array) -> tuple[pa.Array, None]:
        plain = pc.invert(pc.match_substring_regex(values, _NEEDS_QUOTING))
        ok = pc.and_(plain, pc.not_equal(values, ""))
        if pattern is None:
            return ok, None
        distinct = pc.unique(values).to_pylist()
        matching = [v for v in distinct if v is not None and pattern.search(v) is not None]
        return pc.and_(ok, pc.is_in(values, value_set=pa.array(matching, pa.string()))), None

    return text


def _fast_integer(column: Column) -> FastCheck:
    low, high = int_bounds(column)

    def integer(values: pa.Array) -> tuple[pa.Array, None]:
        syntax = _matches(values, _CANONICAL_INT)
        numbers = pc.cast(pc.if_else(syntax, values, "0"), pa.int64())
        in_range = pc.and_(pc.greater_equal(numbers, low), pc.less_equal(numbers, high))
        return pc.and_(syntax, in_range), None

    return integer


def _float_bounds(values: pa.Array, ok: pa.Array, column: Column) -> pa.Array:
    """``ok`` and strictly inside the bounds as doubles (then inside them exactly too)."""
    cmin, cmax = column.checks.min, column.checks.max
    if cmin is None and cmax is None:
        return ok
    numbers = pc.cast(pc.if_else(ok, values, "0"), pa.float64())
    if cmin is not None:
        ok = pc.and_(ok, pc.greater(numbers, float(cmin)))
    if cmax is not None:
        ok = pc.and_(ok, pc.less(numbers, float(cmax)))
    return ok


def _fast_numeric(column: Column) -> FastCheck:
    pattern = numeric_pattern(column, leading_zeros=False)
    return lambda values: (_float_bounds(values, _matches(values, pattern), column), None)


def _fast_double(column: Column) -> FastCheck:
    def double(values: pa.Array) -> tuple[pa.Array, pa.Array]:
        ok = pc.fill_null(_float_bounds(values, _matches(values, _FLOAT_SYNTAX), column), False)
        numbers = pc.cast(pc.if_else(ok, values, "0"), pa.float64())  # may raise: per value
        return ok, pc.cast(numbers, pa.string())

    return double


_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_PART = {"Y": pc.year, "m": pc.month, "d": pc.day, "H": pc.hour, "M": pc.minute, "S": pc.second}


def _fast_moment(column: Column) -> FastCheck | None:
    """Values in the exact shape ``format`` (of plain numeric codes) writes: Arrow parses them,
    and keeps those whose every written part (year, month, day, hour...) is the one parsed
    (Arrow rolls an impossible moment over: 2023-02-29 becomes 2023-03-01, 23:60 the next
    hour). Their wire form is ISO: the value itself when ``format`` is ISO."""
    kind = column.column_type.kind
    fmt = column.format or ("%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S")
    codes = re.findall("%(.)", fmt)
    if kind == "timestamptz" or set(codes) - set(_WIDTH) or len(set(codes)) != len(codes):
        return None
    if not fmt.isascii():
        return None
    iso = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S"
    shape, parts, at = [], [], 0  # the value's regex; where each code's digits sit in it
    for piece in (p for p in re.split("(%.)", fmt) if p):
        if piece.startswith("%"):
            width = _WIDTH[piece[1]]
            shape.append(r"[1-9]\d{3}" if piece[1] == "Y" else r"\d\d")
            parts.append((_PART[piece[1]], at, at + width))
            at += width
        else:
            shape.append(re.escape(piece))
            at += len(piece)
    pattern = "".join(shape)
    placeholder = datetime(2000, 1, 1).strftime(fmt)

    def moment(values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        shaped = pc.fill_null(_matches(values, pattern), False)
        usable = pc.if_else(shaped, values, placeholder)
        parsed = pc.strptime(usable, format=fmt, unit="s", error_is_null=True)
        ok = pc.and_(shaped, pc.is_valid(parsed))
        for part, begin, end in parts:
            written = pc.cast(pc.utf8_slice_codeunits(usable, begin, end), pa.int64())
            ok = pc.and_(ok, pc.fill_null(pc.equal(part(parsed), written), False))
        if fmt == iso:
            return ok, None
        if kind == "date":
            return ok, pc.cast(pc.cast(parsed, pa.date32()), pa.string())
        return ok, pc.strftime(parsed, format=iso)

    return moment


def typed_date_check(values: pa.Array) -> tuple[pa.Array, None]:
    """Dates a typed source (Parquet ``date32``/``date64``) holds, cast to text by Arrow: already
    ISO; only a year outside 1000-9999 (which ``date`` cannot hold) goes to the converter."""
    return _matches(values, _YEAR), None


def fast_check(contract: Contract, column: Column) -> FastCheck | None:
    """The column's vectorized check, or None (then distinct values go to the converter)."""
    kind = column.column_type.kind
    if contract.decimal_separator_of(column) != "." and kind in ("numeric", "double"):
        return None
    if kind == "text":
        return _fast_text(column)
    if kind in ("integer", "bigint"):
        return _fast_integer(column)
    if kind == "numeric":
        return _fast_numeric(column)
    if kind == "double":
        return _fast_double(column)
    if kind in ("date", "timestamp", "timestamptz") and column.format not in EPOCH_FORMATS:
        return _fast_moment(column)
    return None  # booleans, epochs: few distinct values, each converted once
