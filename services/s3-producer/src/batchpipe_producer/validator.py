"""The producer's one row validator: source values in, wire values and the failing rows out.

``Validator.validate`` takes a block of rows as one Arrow string array per contract column
(CSV, JSON Lines and Parquet all arrive so) and works column by column:

1. the **vectorized pass** (Arrow compute over the whole column) marks the values that are
   valid *and* already in their wire form (see docs/wire-format.md): null markers, canonical
   integers, plain decimals within bounds, allowed text without characters that need quoting,
   dates and timestamps in the exact shape of their format...; it is *sufficient*, never
   decisive: it only accepts;
2. every other value goes through the **exact per-value converter** (the rules and the reasons
   live there, once), called once per distinct value: it either gives the wire form (``+5``
   is ``5``, ``31/01/2024`` is ``2024-01-31``) or fails;
3. a row with a failing value is rejected; ``errors`` re-runs the converters on that row alone
   to name every bad column with its reason.

So a block with a few bad rows costs the vectorized pass plus those rows, and the output does
not depend on which pass decided a value (the parity test holds the two paths together).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from batchpipe_common.contracts import EPOCH_FORMATS, Column, Contract
from batchpipe_common.wire import FieldError

Converter = Callable[[str | None], str]
"""Source value (None: missing) to wire text; ``""`` is NULL. Raises ``ValueError`` (reason)."""
TypedConverter = Callable[[str], str]
"""A present (non-null, non-empty) value to wire text, by the column's type."""
FastCheck = Callable[[pa.Array], tuple[pa.Array, pa.Array | None]]
"""(True where a non-null value is valid, its wire form or None when that is the value itself);
it only accepts what the exact converter accepts, with the same wire form."""

Number = TypeVar("Number", int, float)
INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
DEFAULT_FALSE = ("false", "f", "no", "n", "0")
VALUE_LIMIT = 200
"""Characters of an offending value kept in a dead letter's error."""
TRIMMED = " \t"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEEDS_QUOTING = '[",\\r\\n\\x00]'
_CANONICAL_INT = r"0|-?[1-9]\d{0,17}"
_FLOAT_SYNTAX = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?"
_YEAR = r"[1-9]\d{3}-.*"


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


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(values, f"^(?:{pattern})$")


# -- the exact per-value converters ----------------------------------------------------------


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


def _int_bounds(column: Column) -> tuple[int, int]:
    low, high = INT_RANGE[column.column_type.kind]
    if column.checks.min is not None:
        low = max(low, math.ceil(column.checks.min))
    if column.checks.max is not None:
        high = min(high, math.floor(column.checks.max))
    return low, high


def _integer(column: Column) -> TypedConverter:
    low, high = _int_bounds(column)
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


# -- the vectorized pass ---------------------------------------------------------------------


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
    low, high = _int_bounds(column)

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


def _typed_date(values: pa.Array) -> tuple[pa.Array, None]:
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


class ColumnRule:
    """One column's vectorized pass and exact converter, applied to a block's values.

    ``typed_date``: the source column is a typed date (Parquet), whose text is ISO whatever
    the contract's ``format`` says (that describes text sources)."""

    def __init__(
        self, contract: Contract, column: Column, *, csv: bool, fast: bool, typed_date: bool
    ) -> None:
        self.name = column.name
        if typed_date:
            column = column.model_copy(update={"format": None})
        self.convert = column_converter(contract, column, csv=csv)
        self.fast = (_typed_date if typed_date else fast_check(contract, column)) if fast else None
        self.trim = csv and contract.dialect.trim
        nulls = contract.null_values_of(column, csv=csv)
        self.nulls = pa.array(sorted(nulls), pa.string()) if nulls else None
        self.nullable = column.nullable

    def run(self, values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """(wire values, True where the value fails; None when none does)."""
        if self.trim:
            values = pc.utf8_trim(values, TRIMMED)
        if self.fast is None:
            return self._convert_distinct(values, None)
        try:
            ok, wire = self.fast(values)
        except pa.ArrowInvalid:  # a cast Arrow refuses: every value takes the converter
            return self._convert_distinct(values, None)
        ok = pc.fill_null(ok, False)
        wire = values if wire is None else wire
        is_null = pc.is_null(values)
        if self.nulls is not None:
            is_null = pc.or_(is_null, pc.is_in(values, value_set=self.nulls))
        if self.nullable:
            wire = pc.if_else(is_null, "", wire)
            ok = pc.or_(ok, is_null)
        else:
            ok = pc.and_(ok, pc.invert(is_null))
        return self._convert_distinct(values, ok, wire)

    def _convert_distinct(
        self, values: pa.Array, ok: pa.Array | None, wire: pa.Array | None = None
    ) -> tuple[pa.Array, pa.Array | None]:
        """Values not ``ok`` through the converter, each distinct value once."""
        if ok is not None and pc.all(ok).as_py():
            return wire, None
        todo = values if ok is None else pc.filter(values, pc.invert(ok))
        distinct = pc.unique(todo)
        converted: list[str | None] = []
        failed: list[bool] = []
        convert = self.convert
        for value in distinct.to_pylist():
            try:
                converted.append(convert(value))
                failed.append(False)
            except (ValueError, ArithmeticError):
                converted.append(None)
                failed.append(True)
        where = pc.index_in(todo, value_set=distinct, skip_nulls=False)
        todo_wire = pc.take(pa.array(converted, pa.string()), where)
        todo_bad = pc.take(pa.array(failed, pa.bool_()), where)
        if ok is None:
            return todo_wire, todo_bad if any(failed) else None
        assert wire is not None
        out = pc.replace_with_mask(wire, pc.invert(ok), todo_wire)
        if not any(failed):
            return out, None
        return out, pc.replace_with_mask(pa.repeat(False, len(ok)), pc.invert(ok), todo_bad)

    def run_per_value(self, values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """The reference path: every value through the converter, one call each."""
        converted: list[str | None] = []
        failed: list[bool] = []
        for value in values.to_pylist():
            try:
                converted.append(self.convert(value))
                failed.append(False)
            except (ValueError, ArithmeticError):
                converted.append(None)
                failed.append(True)
        return pa.array(converted, pa.string()), pa.array(failed) if any(failed) else None


class Validator:
    """Every column rule of a contract, in contract order, plus the reasons of a bad row."""

    def __init__(
        self,
        contract: Contract,
        *,
        csv: bool,
        vectorized: bool = True,
        typed_dates: frozenset[str] = frozenset(),
    ) -> None:
        """``typed_dates``: the ``date`` columns (by name) whose source values are typed dates."""
        self.contract = contract
        self.rules = [
            ColumnRule(contract, c, csv=csv, fast=vectorized, typed_date=c.name in typed_dates)
            for c in contract.columns
        ]
        self.width = len(self.rules)
        self.vectorized = vectorized

    def validate(self, columns: Sequence[pa.Array]) -> tuple[list[pa.Array], list[pa.Array | None]]:
        """(wire columns, per column: True where the value fails, None when none does)."""
        wire: list[pa.Array] = []
        failing: list[pa.Array | None] = []
        for rule, values in zip(self.rules, columns, strict=True):
            out, failed = rule.run(values) if self.vectorized else rule.run_per_value(values)
            wire.append(out)
            failing.append(failed)
        return wire, failing

    def errors(
        self, values: Sequence[str | None], only: Sequence[int] | None = None
    ) -> list[FieldError]:
        """Every problem of one rejected row (one entry per bad column); ``only``: the indexes
        of the columns known to fail (the others passed, so they are not run again)."""
        if len(values) != self.width:
            if not values or values == [""] or values == [None]:
                return [FieldError(column=None, value=None, reason="blank line")]
            reason = f"expected {self.width} columns, found {len(values)}"
            return [FieldError(column=None, value=None, reason=reason)]
        found = []
        for index in range(self.width) if only is None else only:
            rule, value = self.rules[index], values[index]
            shown = None if value is None else _printable(value[:VALUE_LIMIT])
            if value is not None and shown != value[:VALUE_LIMIT]:
                reason = "invalid byte sequence for the encoding"
                found.append(FieldError(column=rule.name, value=shown, reason=reason))
                continue
            try:
                rule.convert(value)
            except (ValueError, InvalidOperation, ArithmeticError) as exc:
                found.append(FieldError(column=rule.name, value=shown, reason=str(exc)))
        return found


def _printable(value: str) -> str:
    """Undecodable bytes (kept as surrogates by the decoder) shown as ``\\xNN`` escapes."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
