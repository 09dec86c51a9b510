"""The narrowest contract type that every sampled value of a column fits, and why.

Candidates are tried from the narrowest (boolean, integer, bigint, numeric, double, date,
timestamp, timestamptz with each known ``format``); a candidate fits when the producer's own
converter (``batchpipe_producer.value_rules.column_converter``) accepts every sampled value, so
a proposed contract never disagrees with the producer about its sample. A column that no
candidate fits is ``text``, with the value that stopped the closest candidate as the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from batchpipe_common.contracts import Column, Contract

NULL_MARKERS = ("NA", "NULL", "N/A", "\\N", "-", "")
"""Strings read as a missing value when a column holds them (the empty field included)."""
INTEGER_ROOM = 12
"""Integer digits a proposed numeric(p,s) leaves room for, beyond the sample's largest value:
a sample cannot bound the magnitude of the rest of the file."""
DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d")
TIME_SUFFIXES = (" %H:%M:%S", " %H:%M", "T%H:%M:%S", " %H%M%S")
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d*)\.(\d+)$")
_TYPED = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def looks_typed(value: str) -> bool:
    """A number or a date-like value (for telling a header line from data)."""
    return bool(_TYPED.match(value.strip()))


@dataclass(frozen=True)
class Inferred:
    type: str
    why: str
    format: str | None = None


def _candidate_contract(column: Column) -> Contract:
    return Contract(
        name="inferred", version=1, format="csv", columns=(column,), raw_table="raw.x", topic="x"
    )


def _first_misfit(type_: str, values: Iterable[str], fmt: str | None = None) -> str | None:
    """The first value the producer would reject for this type, or None when all fit."""
    from batchpipe_producer.value_rules import column_converter

    column = Column(source="c", name="c", type=type_, format=fmt)
    convert = column_converter(_candidate_contract(column), column, csv=True)
    for value in values:
        try:
            convert(value)
        except ValueError:
            return value
    return None


def _numeric(values: list[str]) -> str | None:
    """numeric(p,s) for plain decimals: s from the longest fraction, room for larger values."""
    scale = digits = 0
    for value in values:
        match = _DECIMAL.match(value)
        if match is None:
            if not _INTEGER.match(value):
                return None
            digits = max(digits, len(value.lstrip("+-").lstrip("0")))
            continue
        digits = max(digits, len(match.group(1).lstrip("0")))
        scale = max(scale, len(match.group(2)))
    if scale == 0:
        return None
    precision = scale + max(digits, INTEGER_ROOM)
    return f"numeric({precision},{scale})" if precision <= 1000 else None


def _moments(values: list[str]) -> Inferred | None:
    for kind, label in (("date", "an ISO 8601 date"), ("timestamp", "an ISO 8601 timestamp")):
        if _first_misfit(kind, values) is None:
            return Inferred(kind, f"every sampled value is {label}")
    if _first_misfit("timestamptz", values) is None:
        return Inferred(
            "timestamptz",
            "every sampled value is an ISO 8601 timestamp, some with a UTC offset"
            " (values without one are read as UTC; set timezone: otherwise)",
        )
    fitting = [f for f in DATE_FORMATS if _first_misfit("date", values, f) is None]
    if fitting:
        return Inferred("date", _format_reason(fitting, "date"), fitting[0])
    stamps = [d + t for d in ("%Y-%m-%d", *DATE_FORMATS) for t in TIME_SUFFIXES]
    fitting = [f for f in stamps if _first_misfit("timestamp", values, f) is None]
    if fitting:
        return Inferred("timestamp", _format_reason(fitting, "timestamp"), fitting[0])
    return None


def _format_reason(fitting: list[str], kind: str) -> str:
    reason = f"every sampled value is a {kind} in the format {fitting[0]}"
    if len(fitting) > 1:
        others = ", ".join(fitting[1:])
        reason += f" (AMBIGUOUS: {others} also fits every sampled value; check which is meant)"
    return reason


def infer_type(values: list[str]) -> Inferred:
    """The narrowest type of the present (non-null) ``values`` of one column."""
    if not values:
        return Inferred("text", "no value in the sample (every sampled value is missing)")
    distinct = list(dict.fromkeys(values))
    if all(_INTEGER.match(v) for v in distinct):
        padded = next(
            (v for v in distinct if len(v.lstrip("+-")) > 1 and v.lstrip("+-")[0] == "0"), None
        )
        if padded is not None:
            return Inferred(
                "text",
                f"digits with leading zeros (e.g. {padded!r}) are kept as text, "
                "a number would drop the zeros",
            )
        if _first_misfit("integer", distinct) is None:
            return Inferred(
                "integer", "every sampled value is a whole number within integer (32 bit)"
            )
        if _first_misfit("bigint", distinct) is None:
            return Inferred("bigint", "every sampled value is a whole number, some beyond 32 bits")
    if _first_misfit("boolean", distinct) is None:
        return Inferred(
            "boolean", "every sampled value is a boolean word (true/false, yes/no, t/f, y/n, 1/0)"
        )
    numeric = _numeric(distinct)
    if numeric is not None and _first_misfit(numeric, distinct) is None:
        return Inferred(
            numeric,
            f"every sampled value is a plain decimal; scale from the longest "
            f"fraction seen, room for {INTEGER_ROOM} integer digits (or the most seen)",
        )
    if _first_misfit("double", distinct) is None:
        return Inferred("double", "every sampled value is a floating-point number")
    moment = _moments(distinct)
    if moment is not None:
        return moment
    return Inferred("text", _why_text(distinct))


def _why_text(values: list[str]) -> str:
    """Name the closest typed candidate and a value it could not read."""
    best: tuple[int, str, str] | None = None
    for label, type_ in (
        ("numbers", "double"),
        ("ISO dates", "date"),
        ("ISO timestamps", "timestamp"),
        ("booleans", "boolean"),
    ):
        fitting = sum(_first_misfit(type_, [v]) is None for v in values[:500])
        if fitting and (best is None or fitting > best[0]):
            misfit = _first_misfit(type_, values) or ""
            best = (fitting, label, misfit)
    if best is None:
        return "free text: no sampled value is a number, boolean, date or timestamp"
    fitting, label, misfit = best
    shown = min(len(values), 500)
    return (
        f"mixed: {fitting} of {shown} distinct sampled values are {label}, but {misfit!r} "
        "is not; kept as text"
    )
