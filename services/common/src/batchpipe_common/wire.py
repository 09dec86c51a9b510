"""The wire format between the s3-producer and the pg-sink (documented in docs/wire-format.md).

A data message is one *chunk*: up to N valid rows of one batch as UTF-8 CSV (RFC 4180, ``,``
delimiter, ``"`` quote, ``\\n`` line ends) with a header line naming ``Contract.wire_columns``
(format 2: the contract's columns and ``_source_row``; format 1 also had ``_batch_id`` on every
row, and the sink still loads such chunks).
NULL is the empty unquoted field; an empty string is ``""``. The sink feeds the value straight
into PostgreSQL ``COPY ... FROM STDIN (FORMAT csv, HEADER true)``.

Headers (all UTF-8 strings) describe the chunk; the key ``<batch_id>:<chunk_seq>`` spreads a
batch over the partitions. Rejected rows go to ``<topic>.dlq`` as JSON ``DeadLetter``s; the
``Manifest`` closes a batch on the manifests topic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import BaseModel, Field

FORMAT_VERSION = "2"
READABLE_FORMAT_VERSIONS = ("1", "2")
"""Chunks the sink loads: a format-1 chunk names ``_batch_id`` among its columns."""
RAW_LINE_LIMIT = 4096
"""Bytes of the raw source line kept in a dead letter (longer lines are truncated)."""

H_FORMAT = "bp-format-version"
H_BATCH = "bp-batch-id"
H_DATASET = "bp-dataset"
H_CONTRACT_VERSION = "bp-contract-version"
H_CHUNK_SEQ = "bp-chunk-seq"
H_FIRST_ROW = "bp-first-row"
H_ROW_COUNT = "bp-row-count"
H_SOURCE_URI = "bp-source-uri"

KafkaHeaders = list[tuple[str, bytes]]


class WireFormatError(ValueError):
    """A message that does not follow the wire format (unknown version, missing header)."""


def batch_id_for(dataset: str, contract_version: int, sha256: str) -> str:
    """Deterministic batch id: the same object under the same contract is the same batch."""
    digest = hashlib.sha256(f"{dataset}\0{contract_version}\0{sha256}".encode()).hexdigest()
    return f"{dataset}-v{contract_version}-{digest[:20]}"


def chunk_key(batch_id: str, chunk_seq: int) -> bytes:
    return f"{batch_id}:{chunk_seq}".encode()


@dataclass(frozen=True, slots=True)
class ChunkHeaders:
    batch_id: str
    dataset: str
    contract_version: int
    chunk_seq: int
    first_row: int
    row_count: int
    source_uri: str

    def to_kafka(self) -> KafkaHeaders:
        return [
            (H_FORMAT, FORMAT_VERSION.encode()),
            (H_BATCH, self.batch_id.encode()),
            (H_DATASET, self.dataset.encode()),
            (H_CONTRACT_VERSION, str(self.contract_version).encode()),
            (H_CHUNK_SEQ, str(self.chunk_seq).encode()),
            (H_FIRST_ROW, str(self.first_row).encode()),
            (H_ROW_COUNT, str(self.row_count).encode()),
            (H_SOURCE_URI, self.source_uri.encode()),
        ]

    @classmethod
    def from_kafka(cls, headers: KafkaHeaders | tuple[tuple[str, bytes], ...]) -> ChunkHeaders:
        values = {k: v.decode() for k, v in headers}
        version = values.get(H_FORMAT)
        if version not in READABLE_FORMAT_VERSIONS:
            raise WireFormatError(f"unsupported wire format version {version!r}")
        try:
            return cls(
                batch_id=values[H_BATCH],
                dataset=values[H_DATASET],
                contract_version=int(values[H_CONTRACT_VERSION]),
                chunk_seq=int(values[H_CHUNK_SEQ]),
                first_row=int(values[H_FIRST_ROW]),
                row_count=int(values[H_ROW_COUNT]),
                source_uri=values[H_SOURCE_URI],
            )
        except (KeyError, ValueError) as exc:
            raise WireFormatError(f"bad or missing chunk header: {exc}") from exc


class FieldError(BaseModel):
    column: str | None = Field(description="contract column name, or None for row-level errors")
    value: str | None = None
    reason: str


class DeadLetter(BaseModel):
    """One rejected source row, as JSON on ``<topic>.dlq`` (key = ``<batch_id>:<source_row>``)."""

    format_version: str = FORMAT_VERSION
    batch_id: str
    dataset: str
    source_uri: str
    source_row: int = Field(description="1-based data row number (header excluded) or line")
    stage: Literal["producer", "sink"] = "producer"
    raw_line: str = Field(description=f"the source line, truncated to {RAW_LINE_LIMIT} bytes")
    raw_truncated: bool = False
    errors: list[FieldError]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @staticmethod
    def encode(
        *,
        batch_id: str,
        dataset: str,
        source_uri: str,
        source_row: int,
        raw_line: str,
        raw_truncated: bool,
        errors: list[FieldError],
    ) -> bytes:
        """The JSON of a producer's ``DeadLetter(...)``, without building the model.

        The producer writes one per bad row, and building and dumping the model was most of
        what a bad row cost it (~6 us of ~13). The bytes are ``to_bytes()``'s: same fields, same
        order, same JSON (a unit test pins it against the model, so the model stays the one
        definition of the format)."""
        return orjson.dumps(
            {
                "format_version": FORMAT_VERSION,
                "batch_id": batch_id,
                "dataset": dataset,
                "source_uri": source_uri,
                "source_row": source_row,
                "stage": "producer",
                "raw_line": raw_line,
                "raw_truncated": raw_truncated,
                "errors": [
                    {"column": e.column, "value": e.value, "reason": e.reason} for e in errors
                ],
            }
        )


def truncate_raw(raw: bytes | str) -> tuple[str, bool]:
    """Text of a raw line for a dead letter: undecodable bytes escaped, capped in size."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    cut = len(data) > RAW_LINE_LIMIT
    return data[:RAW_LINE_LIMIT].decode("utf-8", "backslashreplace"), cut


class PartitionOffsets(BaseModel):
    topic: str
    offsets: dict[int, int] = Field(
        description="partition -> offset of the batch's last message in it"
    )


class Manifest(BaseModel):
    """Closes a batch: what the producer read, sent and rejected, and where it ended."""

    format_version: str = FORMAT_VERSION
    batch_id: str
    dataset: str
    contract_version: int
    source_uri: str
    sha256: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    chunk_count: int
    data: PartitionOffsets = Field(description="last chunk offset per data-topic partition")
    dlq: PartitionOffsets = Field(description="last dead letter offset per DLQ partition")
    produced_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls.model_validate(orjson.loads(data))
