"""Per-column converters compiled once from a contract: source text in, wire text out.

A converter takes the source value of one column (``str``, or ``None`` for a missing value) and
returns the value as it must appear in a wire chunk (see docs/wire-format.md): NULL is ``""``
(an empty unquoted field), an empty string is ``'""'``, text that holds a delimiter, quote or
line break is quoted, and typed values are in their canonical form (ISO dates and timestamps,
plain decimals, ``true``/``false``). A value that breaks the contract raises ``ValueError``
whose message is the reason that goes into the dead letter.

This is the hot path of the producer, so nothing here is generic at run time: every check a
column does not declare is left out of its converter, and no object is built per value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from batchpipe_common.contracts import Column, Contract
from batchpipe_common.wire import FieldError

Converter = Callable[[str | None], str]

INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_BOOLEANS = {
    "true": "true",
    "t": "true",
    "yes": "true",
    "y": "true",
    "1": "true",
    "false": "false",
    "f": "false",
    "no": "false",
    "n": "false",
    "0": "false",
}
VALUE_LIMIT = 200
"""Characters of an offending value kept in a dead letter's error."""


def quote_text(value: str) -> str:
    """A text value as a CSV field: quoted (quotes doubled) when it holds a special character."""
    if not value:
        return '""'
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass(frozen=True)
class ColumnConverter:
    name: str
    convert: Converter


def _empty_handler(column: Column, empty_is_null: bool, is_text: bool) -> Converter:
    """What a missing value (``None``, or ``""`` when empty means NULL) turns into."""
    nullable = column.nullable

    def empty(value: str | None) -> str:
        if value is None or empty_is_null:
            if nullable:
                return ""
            raise ValueError("missing value for a non-nullable column")
        if is_text:
            return '""'
        raise ValueError(f"empty value is not a {column.type}")

    return empty


def _text(column: Column, empty: Converter) -> Converter:
    checks = column.checks
    if checks.allowed is not None:
        allowed = {value: quote_text(value) for value in checks.allowed}
        reason = f"not one of the allowed values ({', '.join(checks.allowed)})"

        def convert_allowed(value: str | None) -> str:
            if not value:
                return empty(value)
            try:
                return allowed[value]
            except KeyError:
                raise ValueError(reason) from None

        return convert_allowed

    pattern = re.compile(checks.regex) if checks.regex is not None else None

    def convert_text(value: str | None) -> str:
        if not value:
            return empty(value)
        if "\x00" in value:
            raise ValueError("NUL character in text")
        if pattern is not None and pattern.search(value) is None:
            raise ValueError(f"does not match {pattern.pattern!r}")
        if '"' in value or "," in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    return convert_text


def _bounds(column: Column) -> tuple[Decimal | None, Decimal | None]:
    return column.checks.min, column.checks.max


def _integer(column: Column, empty: Converter) -> Converter:
    low, high = INT_RANGE[column.column_type.kind]
    cmin, cmax = _bounds(column)
    if cmin is not None:
        low = max(low, math.ceil(cmin))
    if cmax is not None:
        high = min(high, math.floor(cmax))
    kind = column.column_type.kind

    def convert_int(value: str | None) -> str:
        if not value:
            return empty(value)
        if "_" in value:
            raise ValueError(f"not an {kind}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"not an {kind}") from None
        if number < low:
            raise ValueError(f"{number} is below the minimum {low}")
        if number > high:
            raise ValueError(f"{number} is above the maximum {high}")
        return str(number)

    return convert_int


def numeric_pattern(column: Column, *, leading_zeros: bool = True) -> re.Pattern[str]:
    """Plain decimal text that fits ``numeric(p,s)``: no exponent, no group separators.

    Without ``leading_zeros`` the pattern backtracks less (the batch check uses it; a value with
    leading zeros then takes the per-value path, which accepts it).
    """
    ctype = column.column_type
    precision, scale = ctype.precision or 1, ctype.scale or 0
    whole = precision - scale
    zeros = "0*" if leading_zeros else ""
    whole_part = rf"{zeros}\d{{1,{whole}}}" if whole else "0*"
    if scale:
        body = rf"(?:{whole_part}(?:\.\d{{0,{scale}}})?|\.\d{{1,{scale}}})"
    else:
        body = whole_part if whole else "0+"
    return re.compile(rf"[+-]?{body}", re.ASCII)


def _numeric(column: Column, empty: Converter) -> Converter:
    ctype = column.column_type
    precision, scale = ctype.precision or 1, ctype.scale or 0
    whole = precision - scale
    fullmatch = numeric_pattern(column).fullmatch
    cmin, cmax = _bounds(column)
    low_f = float(cmin) if cmin is not None else -math.inf
    high_f = float(cmax) if cmax is not None else math.inf
    bounded = cmin is not None or cmax is not None
    reason = f"not a {ctype} value (plain decimal, at most {whole} digits before the point"
    reason += f" and {scale} after)"

    def convert_numeric(value: str | None) -> str:
        if not value:
            return empty(value)
        if fullmatch(value) is None:
            raise ValueError(reason)
        if bounded:
            approx = float(value)
            # Rounding to a double is monotonic: strictly inside the double bounds is inside
            # the exact bounds, so the Decimal comparison only runs next to a bound.
            if not low_f < approx < high_f:
                exact = Decimal(value)
                if cmin is not None and exact < cmin:
                    raise ValueError(f"{value} is below the minimum {cmin}")
                if cmax is not None and exact > cmax:
                    raise ValueError(f"{value} is above the maximum {cmax}")
        return value

    return convert_numeric


def _double(column: Column, empty: Converter) -> Converter:
    cmin, cmax = _bounds(column)
    low = float(cmin) if cmin is not None else -math.inf
    high = float(cmax) if cmax is not None else math.inf

    def convert_double(value: str | None) -> str:
        if not value:
            return empty(value)
        if "_" in value:
            raise ValueError("not a double")
        try:
            number = float(value)
        except ValueError:
            raise ValueError("not a double") from None
        if math.isnan(number) and (cmin is not None or cmax is not None):
            raise ValueError("NaN cannot be checked against min/max")
        if number < low:
            raise ValueError(f"{value} is below the minimum {cmin}")
        if number > high:
            raise ValueError(f"{value} is above the maximum {cmax}")
        return repr(number)

    return convert_double


def _boolean(column: Column, empty: Converter) -> Converter:
    def convert_boolean(value: str | None) -> str:
        if not value:
            return empty(value)
        try:
            return _BOOLEANS[value.strip().lower()]
        except KeyError:
            raise ValueError("not a boolean (true/false, t/f, yes/no, y/n, 1/0)") from None

    return convert_boolean


def _date(column: Column, empty: Converter) -> Converter:
    fromisoformat = date.fromisoformat

    def convert_date(value: str | None) -> str:
        if not value:
            return empty(value)
        try:
            return fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("not an ISO date (YYYY-MM-DD)") from None

    return convert_date


def _timestamp(column: Column, empty: Converter, with_zone: bool) -> Converter:
    fromisoformat = datetime.fromisoformat

    def convert_timestamp(value: str | None) -> str:
        if not value:
            return empty(value)
        try:
            moment = fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 timestamp") from None
        if with_zone:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        elif moment.tzinfo is not None:
            raise ValueError("a timestamp without time zone cannot carry a UTC offset")
        return moment.isoformat()

    return convert_timestamp


def column_converter(column: Column, *, empty_is_null: bool) -> ColumnConverter:
    """The converter of one contract column. ``empty_is_null``: ``""`` means NULL (CSV)."""
    kind = column.column_type.kind
    empty = _empty_handler(column, empty_is_null, kind == "text")
    convert: Converter
    if kind == "text":
        convert = _text(column, empty)
    elif kind in ("integer", "bigint"):
        convert = _integer(column, empty)
    elif kind == "numeric":
        convert = _numeric(column, empty)
    elif kind == "double":
        convert = _double(column, empty)
    elif kind == "boolean":
        convert = _boolean(column, empty)
    elif kind == "date":
        convert = _date(column, empty)
    else:
        convert = _timestamp(column, empty, with_zone=kind == "timestamptz")
    return ColumnConverter(column.name, convert)


class RowValidator:
    """All converters of a contract, in contract column order, plus the slow error report."""

    def __init__(self, contract: Contract, *, empty_is_null: bool) -> None:
        self.contract = contract
        self.columns = tuple(
            column_converter(c, empty_is_null=empty_is_null) for c in contract.columns
        )
        self.converters: tuple[Converter, ...] = tuple(c.convert for c in self.columns)
        self.width = len(self.columns)

    def errors(self, values: Sequence[str | None]) -> list[FieldError]:
        """Every problem of a row that failed the fast path (one entry per bad column)."""
        if len(values) != self.width:
            if not values or values == [""] or values == [None]:
                return [FieldError(column=None, value=None, reason="blank line")]
            return [
                FieldError(
                    column=None,
                    value=None,
                    reason=f"expected {self.width} columns, found {len(values)}",
                )
            ]
        found = []
        for column, value in zip(self.columns, values, strict=True):
            shown = None if value is None else _printable(value[:VALUE_LIMIT])
            if value is not None and shown != value[:VALUE_LIMIT]:
                reason = "invalid byte sequence for the encoding"
                found.append(FieldError(column=column.name, value=shown, reason=reason))
                continue
            try:
                column.convert(value)
            except (ValueError, InvalidOperation) as exc:
                found.append(FieldError(column=column.name, value=shown, reason=str(exc)))
        return found


def _printable(value: str) -> str:
    """Undecodable bytes (kept as surrogates by the decoder) shown as ``\\xNN`` escapes."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
