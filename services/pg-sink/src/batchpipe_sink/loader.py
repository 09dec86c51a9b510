"""One poll batch, one PostgreSQL transaction: the sink's exactly-once step.

Inside the transaction the chunks' ids are inserted into ``batchpipe.chunks``; the ids that
were already there are duplicates and are skipped. The new chunks' bodies are streamed into the
raw tables with ``COPY ... FROM STDIN (FORMAT csv)``, one stream per table and column list,
straight from the message bytes. Dead letters go to ``batchpipe.rejects`` and manifests to
``batchpipe.batches``, both idempotently. The caller commits Kafka offsets only after this
transaction has committed, so a crash, a redelivery or a rebalance never loads a row twice.

When PostgreSQL refuses a value, the stream is retried chunk by chunk, and a refused chunk is
bisected in savepoints down to its bad rows, which go to ``batchpipe.rejects`` (stage ``sink``)
with PostgreSQL's message; the good rows are loaded.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from pydantic import TypeAdapter

from batchpipe_common.ddl import BATCH_ID_SETTING
from batchpipe_common.logging import bound_batch
from batchpipe_common.wire import FieldError
from batchpipe_sink import metrics
from batchpipe_sink.csv_records import field_of, split_records
from batchpipe_sink.messages import Chunk, DeadLetterMessage, Malformed, ManifestMessage, Message

log = structlog.get_logger(__name__)

REFUSED_VALUE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
)
"""SQLSTATE classes 22 and 23: PostgreSQL refused a value of the stream, not the server."""

_ERRORS = TypeAdapter(list[FieldError])

_CONTEXT_COLUMN = re.compile(r"column (\w+):")

SET_BATCH = f"SELECT set_config('{BATCH_ID_SETTING}', $1, true)"
"""The batch of the rows the transaction copies next (``_batch_id``'s default reads it)."""

_CLAIM_CHUNKS = """
INSERT INTO batchpipe.chunks (batch_id, chunk_seq, dataset, topic, kafka_partition,
                              kafka_offset, first_row, row_count, rows_loaded, applied_by)
SELECT b, s, d, t, p, o, f, n, n, $9
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $6::bigint[],
            $7::bigint[], $8::int[]) AS u(b, s, d, t, p, o, f, n)
ON CONFLICT (batch_id, chunk_seq) DO NOTHING
RETURNING batch_id, chunk_seq
"""

_INSERT_REJECTS = """
INSERT INTO batchpipe.rejects (batch_id, dataset, stage, source_uri, source_row, raw_line, errors)
SELECT b, d, st, u, r, l, e::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
            $7::text[]) AS x(b, d, st, u, r, l, e)
ON CONFLICT (batch_id, source_row) DO NOTHING
RETURNING batch_id, dataset, stage
"""

_UPSERT_MANIFEST = """
INSERT INTO batchpipe.batches (batch_id, dataset, contract_version, source_uri, sha256,
                               rows_read, rows_valid, rows_rejected, chunk_count,
                               data_offsets, dlq_offsets, manifest_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12)
ON CONFLICT (batch_id) DO UPDATE SET
    dataset = EXCLUDED.dataset, contract_version = EXCLUDED.contract_version,
    source_uri = EXCLUDED.source_uri, sha256 = EXCLUDED.sha256,
    rows_read = EXCLUDED.rows_read, rows_valid = EXCLUDED.rows_valid,
    rows_rejected = EXCLUDED.rows_rejected, chunk_count = EXCLUDED.chunk_count,
    data_offsets = EXCLUDED.data_offsets, dlq_offsets = EXCLUDED.dlq_offsets,
    manifest_at = EXCLUDED.manifest_at
"""


@dataclass
class RejectRow:
    batch_id: str
    dataset: str
    stage: str
    source_uri: str
    source_row: int
    raw_line: str | None
    errors: list[FieldError]


@dataclass
class PollOutcome:
    """What one transaction did."""

    chunks_applied: int = 0
    duplicates_skipped: int = 0
    rows_loaded: int = 0
    sink_rejects: int = 0
    producer_rejects: int = 0
    manifests: int = 0
    malformed: int = 0
    batches: set[str] = field(default_factory=set)
    rows_by_batch: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    chunks_by_batch: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def log(self) -> None:
        for batch_id in sorted(self.batches):
            chunks = self.chunks_by_batch.get(batch_id, 0)
            if chunks:
                with bound_batch(batch_id):
                    log.info("chunks applied", chunks=chunks, rows=self.rows_by_batch[batch_id])
        if self.duplicates_skipped:
            log.info("duplicate chunks skipped", chunks=self.duplicates_skipped)


def _reason(exc: Exception) -> FieldError:
    context = getattr(exc, "context", None) or ""
    match = _CONTEXT_COLUMN.search(context)
    column = getattr(exc, "column_name", None) or (match.group(1) if match else None)
    return FieldError(column=column, value=None, reason=str(exc))


async def _stream(bodies: Sequence[memoryview]) -> AsyncIterator[memoryview]:
    for body in bodies:
        yield body


def _terminated(body: memoryview) -> memoryview:
    """A body that ends with a line feed, so that bodies can be concatenated into one stream."""
    if len(body) == 0 or body[-1] == 0x0A:
        return body
    return memoryview(bytes(body) + b"\n")


class Loader:
    """Applies poll batches; one instance per sink process."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id

    async def apply(self, conn: asyncpg.Connection, messages: Sequence[Message]) -> PollOutcome:
        """Apply ``messages`` in one transaction (committed when this returns)."""
        outcome = PollOutcome()
        started = time.perf_counter()
        async with conn.transaction():
            chunks = [m for m in messages if isinstance(m, Chunk)]
            new_chunks = await self._claim(conn, chunks, outcome)
            rejects: list[RejectRow] = []
            await self._copy_chunks(conn, new_chunks, outcome, rejects)
            rejects.extend(
                self._dead_letter_row(m) for m in messages if isinstance(m, DeadLetterMessage)
            )
            await self._insert_rejects(conn, rejects, outcome)
            for m in messages:
                if isinstance(m, ManifestMessage):
                    await self._upsert_manifest(conn, m)
                    outcome.manifests += 1
                    outcome.batches.add(m.manifest.batch_id)
                elif isinstance(m, Malformed):
                    outcome.malformed += 1
                    metrics.MALFORMED.labels(m.position.topic).inc()
                    log.error(
                        "malformed message skipped",
                        topic=m.position.topic,
                        partition=m.position.partition,
                        offset=m.position.offset,
                        reason=m.reason,
                    )
        metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.MANIFESTS.inc(outcome.manifests)
        return outcome

    async def _claim(
        self, conn: asyncpg.Connection, chunks: list[Chunk], outcome: PollOutcome
    ) -> list[Chunk]:
        unique: dict[tuple[str, int], Chunk] = {}
        for chunk in chunks:
            unique.setdefault(chunk.key, chunk)
        if unique:
            cols: list[list[object]] = [[] for _ in range(8)]
            for c in unique.values():
                h = c.headers
                values = (
                    h.batch_id,
                    h.chunk_seq,
                    h.dataset,
                    c.position.topic,
                    c.position.partition,
                    c.position.offset,
                    h.first_row,
                    h.row_count,
                )
                for column, value in zip(cols, values, strict=True):
                    column.append(value)
            claimed = {
                (r["batch_id"], r["chunk_seq"])
                for r in await conn.fetch(_CLAIM_CHUNKS, *cols, self.instance_id)
            }
        else:
            claimed = set()
        new = [c for key, c in unique.items() if key in claimed]
        for chunk in chunks:
            outcome.batches.add(chunk.headers.batch_id)
            if chunk.key not in claimed or unique.get(chunk.key) is not chunk:
                outcome.duplicates_skipped += 1
                metrics.DUPLICATES_SKIPPED.labels(chunk.contract.name).inc()
        return new

    async def _copy_chunks(
        self,
        conn: asyncpg.Connection,
        chunks: list[Chunk],
        outcome: PollOutcome,
        rejects: list[RejectRow],
    ) -> None:
        groups: dict[tuple[str, tuple[str, ...], str | None], list[Chunk]] = defaultdict(list)
        for chunk in chunks:
            groups[(chunk.contract.raw_table, chunk.columns, chunk.copy_batch)].append(chunk)
        refused: dict[tuple[str, int], int] = {}
        for group in groups.values():
            try:
                async with conn.transaction():
                    copied = await self._copy(conn, group, [_terminated(c.body) for c in group])
            except REFUSED_VALUE_ERRORS as exc:
                log.warning(
                    "PostgreSQL refused a value; isolating the bad rows",
                    table=group[0].contract.raw_table,
                    error=str(exc),
                )
                for chunk in group:
                    bad = await self._copy_one_chunk(conn, chunk)
                    if bad:
                        refused[chunk.key] = len(bad)
                        rejects.extend(bad)
                continue
            expected = sum(c.headers.row_count for c in group)
            if copied != expected:
                log.error(
                    "chunk row counts disagree with the rows copied",
                    table=group[0].contract.raw_table,
                    copied=copied,
                    expected=expected,
                )
        if refused:
            await conn.executemany(
                "UPDATE batchpipe.chunks SET rows_loaded = row_count - $3, rows_rejected = $3 "
                "WHERE batch_id = $1 AND chunk_seq = $2",
                [(b, s, n) for (b, s), n in refused.items()],
            )
        for chunk in chunks:
            name, batch = chunk.contract.name, chunk.headers.batch_id
            loaded = chunk.headers.row_count - refused.get(chunk.key, 0)
            outcome.chunks_applied += 1
            outcome.rows_loaded += loaded
            outcome.rows_by_batch[batch] += loaded
            outcome.chunks_by_batch[batch] += 1
            metrics.CHUNKS_APPLIED.labels(name).inc()
            metrics.ROWS_APPLIED.labels(name).inc(loaded)

    async def _copy(
        self, conn: asyncpg.Connection, group: Sequence[Chunk], bodies: Sequence[memoryview]
    ) -> int:
        """COPY ``bodies`` (CSV without header lines) into the group's table; rows copied.
        The group's chunks share their columns and their batch, which ``_batch_id``'s default
        takes from the transaction's setting."""
        contract = group[0].contract
        started = time.perf_counter()
        batch = group[0].copy_batch
        if batch is not None:
            await conn.execute(SET_BATCH, batch)
        status = await conn.copy_to_table(
            contract.raw_table_name,
            schema_name=contract.raw_schema,
            source=_stream(bodies),
            columns=list(group[0].columns),
            format="csv",
        )
        metrics.COPY_SECONDS.labels(contract.name).observe(time.perf_counter() - started)
        return int(status.split()[-1])

    async def _copy_one_chunk(self, conn: asyncpg.Connection, chunk: Chunk) -> list[RejectRow]:
        """Load the good rows of a refused chunk; the bad ones are returned as rejects."""
        records = split_records(bytes(chunk.body))
        bad: list[tuple[int, bytes, Exception]] = []
        await self._bisect(conn, chunk, records, 0, bad)
        source_index = chunk.columns.index("_source_row")
        rows: list[RejectRow] = []
        for index, record, exc in bad:
            source_row = _int_or_none(field_of(record, source_index))
            errors = [_reason(exc)]
            if source_row is None:
                # the line does not parse; keep it under a position no real row can have
                source_row = -(chunk.headers.chunk_seq * 1_000_000 + index + 1)
                errors.append(FieldError(column="_source_row", value=None, reason="unreadable"))
            rows.append(
                RejectRow(
                    batch_id=chunk.headers.batch_id,
                    dataset=chunk.contract.name,
                    stage="sink",
                    source_uri=chunk.headers.source_uri,
                    source_row=source_row,
                    raw_line=record.decode("utf-8", "backslashreplace").rstrip("\r\n"),
                    errors=errors,
                )
            )
        if not rows:
            return rows
        with structlog.contextvars.bound_contextvars(batch_id=chunk.headers.batch_id):
            log.warning(
                "rows refused by PostgreSQL recorded as rejects",
                chunk_seq=chunk.headers.chunk_seq,
                rejected=len(rows),
                loaded=len(records) - len(rows),
            )
        return rows

    async def _bisect(
        self,
        conn: asyncpg.Connection,
        chunk: Chunk,
        records: list[bytes],
        first_index: int,
        bad: list[tuple[int, bytes, Exception]],
    ) -> None:
        if not records:
            return
        try:
            async with conn.transaction():
                await self._copy(conn, [chunk], [memoryview(b"".join(records))])
        except REFUSED_VALUE_ERRORS as exc:
            if len(records) == 1:
                bad.append((first_index, records[0], exc))
                return
            middle = len(records) // 2
            await self._bisect(conn, chunk, records[:middle], first_index, bad)
            await self._bisect(conn, chunk, records[middle:], first_index + middle, bad)

    @staticmethod
    def _dead_letter_row(message: DeadLetterMessage) -> RejectRow:
        letter = message.letter
        return RejectRow(
            batch_id=letter.batch_id,
            dataset=letter.dataset,
            stage=letter.stage,
            source_uri=letter.source_uri,
            source_row=letter.source_row,
            raw_line=letter.raw_line,
            errors=letter.errors,
        )

    async def _insert_rejects(
        self, conn: asyncpg.Connection, rejects: list[RejectRow], outcome: PollOutcome
    ) -> None:
        if not rejects:
            return
        inserted = await conn.fetch(
            _INSERT_REJECTS,
            [r.batch_id for r in rejects],
            [r.dataset for r in rejects],
            [r.stage for r in rejects],
            [r.source_uri for r in rejects],
            [r.source_row for r in rejects],
            [_without_nul(r.raw_line) for r in rejects],
            [_errors_json(r.errors) for r in rejects],
        )
        counts = Counter((row["dataset"], row["stage"]) for row in inserted)
        outcome.batches.update(row["batch_id"] for row in inserted)
        for (dataset, stage), count in counts.items():
            if stage == "sink":
                outcome.sink_rejects += count
            else:
                outcome.producer_rejects += count
            metrics.REJECTS.labels(dataset, stage).inc(count)

    @staticmethod
    async def _upsert_manifest(conn: asyncpg.Connection, message: ManifestMessage) -> None:
        m = message.manifest
        await conn.execute(
            _UPSERT_MANIFEST,
            m.batch_id,
            m.dataset,
            m.contract_version,
            m.source_uri,
            m.sha256,
            m.rows_read,
            m.rows_valid,
            m.rows_rejected,
            m.chunk_count,
            orjson.dumps(m.data.model_dump(mode="json")).decode(),
            orjson.dumps(m.dlq.model_dump(mode="json")).decode(),
            m.produced_at,
        )


def _errors_json(errors: list[FieldError]) -> str:
    """A reject's errors as JSON (one pydantic call: this runs once per bad row)."""
    text = _ERRORS.dump_json(errors)
    if b"\\u0000" in text:  # rare; PostgreSQL's jsonb cannot hold it
        return orjson.dumps(_without_nul([e.model_dump() for e in errors])).decode()
    return text.decode()


def _without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL: keep it visible as the four characters \\x00."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
