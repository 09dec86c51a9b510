"""The exact per-value converters: one source value in, its wire text or the reason it fails.

``column_converter`` gives a column's converter: trim (CSV), null markers, then the rules of
its type (text, integer, bigint, numeric, double, boolean, date, timestamp, timestamptz), which
turn a valid value into its wire form (see docs/wire-format.md: ``+5`` is ``5``, ``31/01/2024``
is ``2024-01-31``, ``a,b`` is ``"a,b"``) or raise ``ValueError`` with the reason. This is the one
place with the rules and the reasons: the vectorized checks (``fast_checks``) only accept what
these converters accept, with the same wire form, and the validator sends every other value here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from batchpipe_common.contracts import Column, Contract

Converter = Callable[[str | None], str]
"""Source value (None: missing) to wire text; ``""`` is NULL. Raises ``ValueError`` (reason)."""
TypedConverter = Callable[[str], str]
"""A present (non-null, non-empty) value to wire text, by the column's type."""

Number = TypeVar("Number", int, float)
INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
DEFAULT_FALSE = ("false", "f", "no", "n", "0")
TRIMMED = " \t"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quote_text(value: str) -> str:
    """A text value as a CSV field: quoted (quotes doubled) when it holds a special character."""
    if not value:
        return '""'
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def double_text(number: float) -> str:
    """The wire form of a double: Arrow's shortest round-trip text (what the fast pass keeps)."""
    text: str = pc.cast(pa.array([number], pa.float64()), pa.string())[0].as_py()
    return text


def _text(column: Column) -> TypedConverter:
    checks = column.checks
    allowed = frozenset(checks.allowed) if checks.allowed is not None else None
    not_allowed = f"not one of the allowed values ({', '.join(checks.allowed or ())})"
    pattern = re.compile(checks.regex) if checks.regex is not None else None

    def convert_text(value: str) -> str:
        if allowed is not None:
            if value not in allowed:
                raise ValueError(not_allowed)
            return quote_text(value)
        if "\x00" in value:
            raise ValueError("NUL character in text")
        if pattern is not None and pattern.search(value) is None:
            raise ValueError(f"does not match {pattern.pattern!r}")
        return quote_text(value)

    return convert_text


def _number(parse: Callable[[str], Number], value: str, reason: str) -> Number:
    """``int``/``float`` of the text, without their ``_`` digit groups; else ``reason``."""
    if "_" in value:
        raise ValueError(reason)
    try:
        return parse(value)
    except ValueError:
        raise ValueError(reason) from None


def _in_range(number: Any, shown: str, low: tuple[Any, object], high: tuple[Any, object]) -> None:
    """Raise the reason when ``number`` is outside (low, shown low) .. (high, shown high)."""
    if number < low[0]:
        raise ValueError(f"{shown} is below the minimum {low[1]}")
    if number > high[0]:
        raise ValueError(f"{shown} is above the maximum {high[1]}")


def int_bounds(column: Column) -> tuple[int, int]:
    low, high = INT_RANGE[column.column_type.kind]
    if column.checks.min is not None:
        low = max(low, math.ceil(column.checks.min))
    if column.checks.max is not None:
        high = min(high, math.floor(column.checks.max))
    return low, high


def _integer(column: Column) -> TypedConverter:
    low, high = int_bounds(column)
    reason = f"not an {column.column_type.kind}"

    def convert_int(value: str) -> str:
        number = _number(int, value, reason)
        _in_range(number, str(number), (low, low), (high, high))
        return str(number)

    return convert_int


def numeric_pattern(column: Column, *, leading_zeros: bool = True) -> str:
    """Plain decimal text that fits ``numeric(p,s)``: no exponent, no group separators."""
    ctype = column.column_type
    precision, scale = ctype.precision or 1, ctype.scale or 0
    whole = precision - scale
    zeros = "0*" if leading_zeros else ""
    whole_part = rf"{zeros}\d{{1,{whole}}}" if whole else "0*"
    if scale:
        body = rf"(?:{whole_part}(?:\.\d{{0,{scale}}})?|\.\d{{1,{scale}}})"
    else:
        body = whole_part if whole else "0+"
    return rf"[+-]?{body}"


def _decimal_point(column: Column, separator: str) -> Callable[[str], str]:
    """The value with a ``.`` decimal point; with ``,`` declared, a ``.`` is refused."""
    if separator == ".":
        return str
    reason = f"not a {column.column_type} value with ',' as the decimal separator"

    def point(value: str) -> str:
        if "." in value:
            raise ValueError(reason)
        return value.replace(",", ".")

    return point


def _numeric(column: Column, separator: str) -> TypedConverter:
    ctype = column.column_type
    whole, scale = (ctype.precision or 1) - (ctype.scale or 0), ctype.scale or 0
    fullmatch = re.compile(numeric_pattern(column), re.ASCII).fullmatch
    point = _decimal_point(column, separator)
    cmin, cmax = column.checks.min, column.checks.max
    low = cmin if cmin is not None else Decimal("-Infinity")
    high = cmax if cmax is not None else Decimal("Infinity")
    reason = f"not a {ctype} value (plain decimal, at most {whole} digits before the point"
    reason += f" and {scale} after)"

    def convert_numeric(value: str) -> str:
        value = point(value)
        if fullmatch(value) is None:
            raise ValueError(reason)
        _in_range(Decimal(value), value, (low, cmin), (high, cmax))
        return value

    return convert_numeric


def _double(column: Column, separator: str) -> TypedConverter:
    cmin, cmax = column.checks.min, column.checks.max
    low = float(cmin) if cmin is not None else -math.inf
    high = float(cmax) if cmax is not None else math.inf
    point = _decimal_point(column, separator)

    def convert_double(value: str) -> str:
        value = point(value)
        number = _number(float, value, "not a double")
        if math.isnan(number) and (cmin is not None or cmax is not None):
            raise ValueError("NaN cannot be checked against min/max")
        _in_range(number, value, (low, cmin), (high, cmax))
        return double_text(number)

    return convert_double


def boolean_words(column: Column) -> tuple[dict[str, str], str]:
    """Lower-cased words to ``true``/``false``, and the reason that lists them."""
    trues = [v.strip().lower() for v in column.true_values or DEFAULT_TRUE]
    falses = [v.strip().lower() for v in column.false_values or DEFAULT_FALSE]
    words = dict.fromkeys(trues, "true") | dict.fromkeys(falses, "false")
    listed = ", ".join(f"{t}/{f}" for t, f in zip(trues, falses, strict=False))
    extra = trues[len(falses) :] + falses[len(trues) :]
    return words, f"not a boolean ({', '.join([listed, *extra]) if extra else listed})"


def _boolean(column: Column) -> TypedConverter:
    words, reason = boolean_words(column)

    def convert_boolean(value: str) -> str:
        try:
            return words[value.strip().lower()]
        except KeyError:
            raise ValueError(reason) from None

    return convert_boolean


def _moment_parser(column: Column) -> tuple[Callable[[str], datetime | date], str]:
    """How the column's text becomes a date/datetime, and the reason when it does not."""
    fmt, kind = column.format, column.column_type.kind
    if fmt in ("epoch_seconds", "epoch_millis"):
        scale = 1 if fmt == "epoch_seconds" else 1000
        unit = "seconds" if scale == 1 else "milliseconds"

        def epoch(value: str) -> datetime:
            return _EPOCH + timedelta(milliseconds=int(value) * 1000 // scale)

        return epoch, f"not an integer count of {unit} since 1970-01-01 ({fmt})"
    if fmt is not None:
        return (lambda value: datetime.strptime(value, fmt)), f"not a {kind} in the format {fmt!r}"
    if kind == "date":
        return date.fromisoformat, "not an ISO date (YYYY-MM-DD)"
    return datetime.fromisoformat, "not an ISO 8601 timestamp"


def _moment(column: Column) -> TypedConverter:
    parse, reason = _moment_parser(column)
    kind = column.column_type.kind
    zone = ZoneInfo(column.timezone) if column.timezone else UTC
    epoch = column.format in ("epoch_seconds", "epoch_millis")

    def convert_moment(value: str) -> str:
        try:
            moment = parse(value)
        except (ValueError, OverflowError):
            raise ValueError(reason) from None
        if kind == "date":
            return (moment.date() if isinstance(moment, datetime) else moment).isoformat()
        assert isinstance(moment, datetime)
        if kind == "timestamptz":
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
        elif epoch:
            moment = moment.replace(tzinfo=None)
        elif moment.tzinfo is not None:
            raise ValueError("a timestamp without time zone cannot carry a UTC offset")
        return moment.isoformat()

    return convert_moment


def column_converter(contract: Contract, column: Column, *, csv: bool) -> Converter:
    """The exact converter of one column: trim, null markers, then the type's rules."""
    kind = column.column_type.kind
    separator = contract.decimal_separator_of(column)
    typed: TypedConverter
    if kind == "text":
        typed = _text(column)
    elif kind in ("integer", "bigint"):
        typed = _integer(column)
    elif kind == "numeric":
        typed = _numeric(column, separator)
    elif kind == "double":
        typed = _double(column, separator)
    elif kind == "boolean":
        typed = _boolean(column)
    else:
        typed = _moment(column)
    nulls = contract.null_values_of(column, csv=csv)
    trim = csv and contract.dialect.trim
    nullable, is_text = column.nullable, kind == "text"

    def convert(value: str | None) -> str:
        if value is not None and trim:
            value = value.strip(TRIMMED)
        if value is None or value in nulls:
            if nullable:
                return ""
            raise ValueError("missing value for a non-nullable column")
        if not value and not is_text:
            raise ValueError(f"empty value is not a {column.type}")
        return typed(value)

    return convert
