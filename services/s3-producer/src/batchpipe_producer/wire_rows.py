"""Blocks of validated rows on their way out: valid rows as Arrow wire rows, bad rows as dead
letters. Every format (CSV, JSON Lines, Parquet) hands its blocks to a ``RowSink``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from batchpipe_common.wire import FieldError
from batchpipe_producer.chunks import BatchWriter
from batchpipe_producer.validator import Validator

_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")

Record = Callable[[int, str | bytes], Sequence[str | None] | FieldError]
"""(index in the block, raw text) -> the row's source values in contract order, or the error
that makes it unusable before any value is looked at (wrong number of fields, bad JSON...)."""
Raw = Callable[[int], str | bytes]
"""Index in the block -> the row's raw source text, for its dead letter."""


def listed(values: Sequence[Sequence[str | None] | FieldError]) -> Record:
    """The ``Record`` of a block whose rows' values are already at hand."""
    return lambda index, _raw: values[index]


@dataclass(frozen=True)
class WireRows:
    """Valid rows in wire form: the contract's columns, then ``_source_row`` (the batch is
    the chunk's header, not a column: the sink's COPY fills ``_batch_id`` from it)."""

    table: pa.Table

    def __len__(self) -> int:
        count: int = self.table.num_rows
        return count

    @property
    def first_row(self) -> int:
        first: int = self.table.column(self.table.num_columns - 1)[0].as_py()
        return first

    def halves(self) -> tuple[WireRows, WireRows]:
        half = len(self) // 2
        return WireRows(self.table.slice(0, half)), WireRows(self.table.slice(half))

    def body(self) -> bytes:
        """The rows as wire lines, each ending in ``\\n`` (no header)."""
        try:
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(self.table, sink, _WRITE_OPTIONS)
        except pa.ArrowInvalid:
            return self._joined()  # some values are quoted already (see value_rules.quote_text)
        body: bytes = sink.getvalue().to_pybytes()
        return body

    def _joined(self) -> bytes:
        columns = [pc.cast(c, pa.string()) for c in self.table.columns]
        lines = pc.binary_join_element_wise(
            *columns, ",", null_handling="replace", null_replacement=""
        )
        return ("\n".join(lines.to_pylist()) + "\n").encode()


class RowSink:
    """Validates blocks of source rows; sends the valid ones, rejects the others with reasons."""

    def __init__(self, writer: BatchWriter, validator: Validator) -> None:
        self.writer = writer
        self.validator = validator
        self.names = list(writer.identity.contract.wire_columns)
        self._offsets = pa.array([], pa.int64())

    def _row_offsets(self, count: int) -> pa.Array:
        """0 .. count - 1 (built from Python ints once, not per block: 0.2 s per 1M rows)."""
        if len(self._offsets) < count:
            self._offsets = pa.array(range(count), pa.int64())
        return self._offsets.slice(0, count)

    def send(
        self,
        columns: Sequence[pa.Array],
        first_row: int,
        record: Record,
        raw: Raw,
        unusable: pa.Array | None = None,
    ) -> int:
        """Send a block whose rows are ``first_row``, ``first_row + 1``...; ``unusable``: rows
        that cannot be validated (their values are placeholders). Returns the next row limit."""
        count = len(columns[0]) if columns else 0
        wire, failing = self.validator.validate(columns)
        rows = pc.add(self._row_offsets(count), pa.scalar(first_row, pa.int64()))
        table = pa.Table.from_arrays([*wire, rows], names=self.names)
        bad = unusable if unusable is not None and pc.any(unusable).as_py() else None
        failed_columns: dict[int, list[int] | None] = {}
        if bad is not None:
            failed_columns = dict.fromkeys(pc.indices_nonzero(bad).to_pylist())
        for column, failed in enumerate(failing):
            if failed is not None:
                for index in pc.indices_nonzero(failed).to_pylist():
                    known = failed_columns.setdefault(index, [])
                    if known is not None:  # an unusable row: every column is looked at
                        known.append(column)
                bad = failed if bad is None else pc.or_(bad, failed)
        if bad is not None:
            for index, columns_failed in sorted(failed_columns.items()):
                text = raw(index)
                values = record(index, text)
                if isinstance(values, FieldError):
                    errors = [values]
                else:
                    errors = self.validator.errors(values, columns_failed)
                self.writer.reject(first_row + index, text, errors)
            table = table.filter(pc.invert(bad))
        return self.writer.flush_encoded(WireRows(table), first_row + count - 1)
