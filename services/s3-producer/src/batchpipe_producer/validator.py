"""The producer's one row validator: source values in, wire values and the failing rows out.

``Validator.validate`` takes a block of rows as one Arrow string array per contract column
(CSV, JSON Lines and Parquet all arrive so) and works column by column:

1. the **vectorized pass** (Arrow compute over the whole column; its checks: ``fast_checks``)
   marks the values that are valid *and* already in their wire form (see docs/wire-format.md):
   null markers, canonical integers, plain decimals within bounds, allowed text without
   characters that need quoting, dates and timestamps in the exact shape of their format...;
   it is *sufficient*, never decisive: it only accepts;
2. every other value goes through the **exact per-value converter** (``value_rules``: the
   rules and the reasons live there, once), called once per distinct value: it either gives
   the wire form (``+5`` is ``5``, ``31/01/2024`` is ``2024-01-31``) or fails;
3. a row with a failing value is rejected; ``errors`` re-runs the converters on that row alone
   to name every bad column with its reason.

So a block with a few bad rows costs the vectorized pass plus those rows, and the output does
not depend on which pass decided a value (the parity test holds the two paths together).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from batchpipe_common.contracts import Column, Contract
from batchpipe_common.wire import FieldError
from batchpipe_producer.fast_checks import fast_check, typed_date_check
from batchpipe_producer.value_rules import TRIMMED, column_converter

VALUE_LIMIT = 200
"""Characters of an offending value kept in a dead letter's error."""


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
        self.fast = (
            (typed_date_check if typed_date else fast_check(contract, column)) if fast else None
        )
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
