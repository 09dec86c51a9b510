"""Turning validated rows into wire messages: chunks of valid rows and one dead letter per bad row.

``BatchWriter`` runs on the parsing thread. It receives wire lines (serialized by the converters,
ending in ``,<source_row>``, no line end), cuts them into chunks under the row and
byte caps, and hands finished messages to an ``Outbox``, whose ``submit`` blocks while too many
messages are in flight: that is the backpressure that keeps memory flat.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from batchpipe_common.contracts import Contract
from batchpipe_common.wire import ChunkHeaders, DeadLetter, FieldError, KafkaHeaders, chunk_key
from batchpipe_common.wire import truncate_raw as _truncate_raw
from batchpipe_producer import metrics
from batchpipe_producer.errors import RunCancelled

DEAD_LETTER_BATCH = 256
"""Dead letters handed to the outbox together (one thread hop for many rejects)."""

MessageKind = Literal["chunk", "dead_letter"]


@dataclass(frozen=True, slots=True)
class OutMessage:
    kind: MessageKind
    topic: str
    key: bytes
    value: bytes
    headers: KafkaHeaders | None = None


class EncodedRows(Protocol):
    """Valid rows already in wire form, serialized on demand (``wire_rows.WireRows``)."""

    @property
    def first_row(self) -> int:
        """Source row of the first row."""

    def __len__(self) -> int: ...

    def halves(self) -> tuple[EncodedRows, EncodedRows]:
        """The first half of the rows (``len // 2``) and the rest."""

    def body(self) -> bytes:
        """The wire lines, each ending in a line feed, no header."""


class Outbox(Protocol):
    def submit(self, messages: list[OutMessage]) -> None:
        """Queue messages for sending; blocks while the in-flight limit is reached."""


@dataclass
class Progress:
    """Counters of one run, written by the parsing thread and read by the API."""

    bytes_total: int = 0
    bytes_read: int = 0
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    chunks_sent: int = 0


@dataclass(frozen=True)
class RunIdentity:
    batch_id: str
    contract: Contract
    source_uri: str


@dataclass
class BatchWriter:
    """Chunks valid lines, collects dead letters, and counts what it did."""

    identity: RunIdentity
    outbox: Outbox
    max_rows: int
    max_bytes: int
    progress: Progress = field(default_factory=Progress)
    cancel: threading.Event = field(default_factory=threading.Event)
    chunk_seq: int = 0
    _dead_letters: list[OutMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        contract = self.identity.contract
        self.header = ",".join(contract.wire_columns) + "\n"
        self._header_bytes = self.header.encode()
        self.row_limit = self.max_rows
        self._rows_metric = metrics.ROWS.labels(dataset=contract.name, outcome="valid")
        self._rejects_metric = metrics.ROWS.labels(dataset=contract.name, outcome="rejected")
        self._chunks_metric = metrics.CHUNKS.labels(dataset=contract.name)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise RunCancelled("the service is shutting down")

    # -- valid rows -------------------------------------------------------------------------

    def flush(self, lines: list[str], rows_read: int) -> int:
        """Send ``lines`` (wire lines without line ends) as chunks; returns the next row limit.

        The limit shrinks when rows are wide, so that chunks stay under the byte cap; it only
        depends on the data, so a re-run cuts the same chunks (same keys).
        """
        self.progress.rows_read = rows_read
        if lines:
            self._send_chunks(lines)
            self._adapt_limit(sum(map(len, lines)), len(lines))
        self.check_cancelled()
        return self.row_limit

    def flush_encoded(self, rows: EncodedRows, rows_read: int) -> int:
        """``flush`` for rows already in wire form (same chunks, same limit)."""
        self.progress.rows_read = rows_read
        if len(rows):
            self._adapt_limit(self._send_encoded(rows), len(rows))
        self.check_cancelled()
        return self.row_limit

    def _adapt_limit(self, chars: int, count: int) -> None:
        avg = max(1, chars // count)
        self.row_limit = max(1, min(self.max_rows, (self.max_bytes * 9 // 10) // avg))

    def _send_chunks(self, lines: list[str]) -> None:
        try:
            payload = self._encode(lines)
        except UnicodeEncodeError:
            lines = self._drop_undecodable(lines)
            if not lines:
                return
            payload = self._encode(lines)
        if len(payload) > self.max_bytes and len(lines) > 1:
            half = len(lines) // 2
            self._send_chunks(lines[:half])
            self._send_chunks(lines[half:])
            return
        self._send_chunk(payload, int(lines[0].rsplit(",", 1)[1]), len(lines))

    def _send_encoded(self, rows: EncodedRows) -> int:
        """Send ``rows`` as one chunk, or halves while over the byte cap; their characters."""
        body = rows.body()
        payload = self._header_bytes + body
        if len(payload) > self.max_bytes and len(rows) > 1:
            first, second = rows.halves()
            return self._send_encoded(first) + self._send_encoded(second)
        self._send_chunk(payload, rows.first_row, len(rows))
        chars = len(body) if body.isascii() else len(body.decode())
        return chars - len(rows)

    def _send_chunk(self, payload: bytes, first_row: int, count: int) -> None:
        identity = self.identity
        headers = ChunkHeaders(
            batch_id=identity.batch_id,
            dataset=identity.contract.name,
            contract_version=identity.contract.version,
            chunk_seq=self.chunk_seq,
            first_row=first_row,
            row_count=count,
            source_uri=identity.source_uri,
        )
        message = OutMessage(
            kind="chunk",
            topic=identity.contract.topic,
            key=chunk_key(identity.batch_id, self.chunk_seq),
            value=payload,
            headers=headers.to_kafka(),
        )
        self.chunk_seq += 1
        self._flush_dead_letters()
        self.outbox.submit([message])
        self.progress.rows_valid += count
        self.progress.chunks_sent += 1
        self._rows_metric.inc(count)
        self._chunks_metric.inc()

    def _encode(self, lines: list[str]) -> bytes:
        return f"{self.header}{chr(10).join(lines)}\n".encode()

    def _drop_undecodable(self, lines: list[str]) -> list[str]:
        """Reject the lines that hold bytes the source encoding could not decode."""
        kept = []
        for line in lines:
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                fields, _, row = line.rpartition(",")
                source = fields.rpartition(",")[0]
                error = FieldError(
                    column=None, value=None, reason="invalid byte sequence for the encoding"
                )
                self.reject(int(row), source.encode("utf-8", "surrogateescape"), [error])
            else:
                kept.append(line)
        return kept

    # -- rejected rows ----------------------------------------------------------------------

    def reject(self, source_row: int, raw: str | bytes, errors: list[FieldError]) -> None:
        identity = self.identity
        text, cut = _truncate_raw(raw)
        letter = DeadLetter.encode(
            batch_id=identity.batch_id,
            dataset=identity.contract.name,
            source_uri=identity.source_uri,
            source_row=source_row,
            raw_line=text,
            raw_truncated=cut,
            errors=errors,
        )
        self._dead_letters.append(
            OutMessage(
                kind="dead_letter",
                topic=identity.contract.dlq_topic,
                key=f"{identity.batch_id}:{source_row}".encode(),
                value=letter,
            )
        )
        self.progress.rows_rejected += 1
        self._rejects_metric.inc()
        if len(self._dead_letters) >= DEAD_LETTER_BATCH:
            self._flush_dead_letters()

    def _flush_dead_letters(self) -> None:
        if self._dead_letters:
            batch, self._dead_letters = self._dead_letters, []
            self.outbox.submit(batch)

    def finish(self, lines: list[str], rows_read: int) -> None:
        """Send the last chunk and the remaining dead letters."""
        self.flush(lines, rows_read)
        self._flush_dead_letters()
        self.progress.rows_read = rows_read
