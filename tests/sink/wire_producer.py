"""A test-side producer of batches exactly as the wire format says (chunks, dead letters,
manifest), independent of the s3-producer's code.

``BankBatch`` turns rows of the generated bank file into chunks of CSV with the lineage
columns, dead letters for the rows planted as rejects, and the manifest that closes the batch.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from aiokafka import AIOKafkaProducer

from batchpipe_cli.generate import iter_lines
from batchpipe_common.contracts import Contract
from batchpipe_common.wire import (
    FORMAT_VERSION,
    H_FORMAT,
    ChunkHeaders,
    DeadLetter,
    FieldError,
    Manifest,
    PartitionOffsets,
    chunk_key,
)

Row = tuple[str, ...]


def generated_rows(count: int, seed: int = 7) -> list[Row]:
    """Data rows (header excluded) of the generated bank file; row i has source row i + 1."""
    text = "".join(iter_lines(count, seed=seed))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [tuple(r) for r in rows[1:]]


def chunk_csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue().encode()


@dataclass
class BankBatch:
    """One batch of the bank data set: valid rows become chunks, planted rows dead letters."""

    contract: Contract
    rows: list[Row]
    rejected_rows: set[int] = field(default_factory=set)
    """1-based source rows the 'producer' rejects (they go to the DLQ)."""
    chunk_rows: int = 1000
    batch_id: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:16]}")
    format_version: int = int(FORMAT_VERSION)
    """1: every row also carries ``_batch_id`` (what producers before wire format 2 sent)."""
    source_uri: str = "s3://batchpipe-raw/test/bank.csv"
    data_offsets: dict[int, int] = field(default_factory=dict)
    dlq_offsets: dict[int, int] = field(default_factory=dict)

    @cached_property
    def valid(self) -> list[tuple[int, Row]]:
        return [(i, r) for i, r in enumerate(self.rows, 1) if i not in self.rejected_rows]

    @cached_property
    def chunks(self) -> list[tuple[ChunkHeaders, bytes]]:
        valid = self.valid
        out = []
        for seq, start in enumerate(range(0, len(valid), self.chunk_rows)):
            part = valid[start : start + self.chunk_rows]
            headers = ChunkHeaders(
                batch_id=self.batch_id,
                dataset=self.contract.name,
                contract_version=self.contract.version,
                chunk_seq=seq,
                first_row=part[0][0],
                row_count=len(part),
                source_uri=self.source_uri,
            )
            if self.format_version == 1:
                columns = (*self.contract.column_names, "_batch_id", "_source_row")
                body = chunk_csv(columns, [(*r, self.batch_id, str(i)) for i, r in part])
            else:
                body = chunk_csv(self.contract.wire_columns, [(*r, str(i)) for i, r in part])
            out.append((headers, body))
        return out

    def expected_sums(self) -> tuple[int, Decimal, int]:
        """(rows, sum of total_amount, sum of transaction_count) of the valid rows."""
        valid = self.valid
        return (
            len(valid),
            sum((Decimal(r[3]) for _, r in valid), Decimal(0)),
            sum(int(r[4]) for _, r in valid),
        )

    async def send_chunks(
        self, producer: AIOKafkaProducer, seqs: Iterable[int] | None = None
    ) -> int:
        chunks = self.chunks
        wanted = set(range(len(chunks))) if seqs is None else set(seqs)
        futures = []
        for headers, body in chunks:
            if headers.chunk_seq in wanted:
                futures.append(
                    await producer.send(
                        self.contract.topic,
                        body,
                        key=chunk_key(self.batch_id, headers.chunk_seq),
                        headers=[
                            (name, str(self.format_version).encode() if name == H_FORMAT else v)
                            for name, v in headers.to_kafka()
                        ],
                    )
                )
        for fut in futures:
            meta = await fut
            self.data_offsets[meta.partition] = max(
                meta.offset, self.data_offsets.get(meta.partition, -1)
            )
        return len(futures)

    def dead_letters(self) -> list[DeadLetter]:
        return [
            DeadLetter(
                batch_id=self.batch_id,
                dataset=self.contract.name,
                source_uri=self.source_uri,
                source_row=i,
                raw_line=",".join(self.rows[i - 1]),
                errors=[FieldError(column="total_amount", value="x", reason=f"planted {i}")],
            )
            for i in sorted(self.rejected_rows)
        ]

    async def send_dead_letters(self, producer: AIOKafkaProducer) -> None:
        futures = [
            await producer.send(
                self.contract.dlq_topic,
                letter.to_bytes(),
                key=f"{self.batch_id}:{letter.source_row}".encode(),
            )
            for letter in self.dead_letters()
        ]
        for fut in futures:
            meta = await fut
            self.dlq_offsets[meta.partition] = max(
                meta.offset, self.dlq_offsets.get(meta.partition, -1)
            )

    def manifest(self) -> Manifest:
        return Manifest(
            batch_id=self.batch_id,
            dataset=self.contract.name,
            contract_version=self.contract.version,
            source_uri=self.source_uri,
            sha256="0" * 64,
            rows_read=len(self.rows),
            rows_valid=len(self.valid),
            rows_rejected=len(self.rejected_rows),
            chunk_count=len(self.chunks),
            data=PartitionOffsets(topic=self.contract.topic, offsets=self.data_offsets),
            dlq=PartitionOffsets(topic=self.contract.dlq_topic, offsets=self.dlq_offsets),
        )

    async def send_manifest(self, producer: AIOKafkaProducer, manifests_topic: str) -> Manifest:
        manifest = self.manifest()
        await producer.send_and_wait(
            manifests_topic, manifest.to_bytes(), key=self.batch_id.encode()
        )
        return manifest

    async def send_all(self, producer: AIOKafkaProducer, manifests_topic: str) -> Manifest:
        await self.send_chunks(producer)
        await self.send_dead_letters(producer)
        return await self.send_manifest(producer, manifests_topic)
