"""Kafka records decoded into what the sink does with them.

The topic says what a record is: a dataset's data topic carries chunks, ``<topic>.dlq`` carries
dead letters, the manifests topic carries manifests. Decoding a chunk reads only its Kafka
headers and its first line (the column names); the CSV body is never parsed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from batchpipe_common.contracts import BATCH_ID_COLUMN, LINEAGE_COLUMNS, Contract
from batchpipe_common.wire import ChunkHeaders, DeadLetter, Manifest, WireFormatError


class UnknownColumns(RuntimeError):
    """A chunk names columns the sink's contract does not have (a newer contract version)."""


@dataclass(frozen=True, slots=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Chunk:
    position: Position
    contract: Contract
    headers: ChunkHeaders
    columns: tuple[str, ...]
    value: bytes
    body_start: int
    """Index of the first byte after the header line."""

    @property
    def key(self) -> tuple[str, int]:
        return self.headers.batch_id, self.headers.chunk_seq

    @property
    def copy_batch(self) -> str | None:
        """The batch a COPY of this chunk fills ``_batch_id`` with (``ddl.BATCH_ID_DEFAULT``);
        None for a format-1 chunk, whose rows carry it."""
        return None if BATCH_ID_COLUMN in self.columns else self.headers.batch_id

    @property
    def body(self) -> memoryview:
        return memoryview(self.value)[self.body_start :]


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    position: Position
    contract: Contract
    letter: DeadLetter


@dataclass(frozen=True, slots=True)
class ManifestMessage:
    position: Position
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class Malformed:
    position: Position
    reason: str


Message = Chunk | DeadLetterMessage | ManifestMessage | Malformed


@dataclass(frozen=True)
class TopicMap:
    """Which topic is what, for the contracts the sink loads."""

    data: dict[str, Contract]
    dlq: dict[str, Contract]
    manifests_topic: str

    @classmethod
    def build(cls, contracts: list[Contract], manifests_topic: str) -> TopicMap:
        return cls(
            data={c.topic: c for c in contracts},
            dlq={c.dlq_topic: c for c in contracts},
            manifests_topic=manifests_topic,
        )

    @property
    def topics(self) -> list[str]:
        return sorted({*self.data, *self.dlq, self.manifests_topic})


def _position(record: ConsumerRecord[bytes, bytes]) -> Position:
    return Position(record.topic, record.partition, record.offset)


def decode_chunk(
    position: Position, contract: Contract, value: bytes, headers: ChunkHeaders
) -> Chunk | Malformed:
    if headers.dataset != contract.name:
        return Malformed(position, f"dataset {headers.dataset!r} on topic of {contract.name!r}")
    end = value.find(b"\n")
    header_line = value if end < 0 else value[:end]
    columns = tuple(header_line.decode("utf-8").rstrip("\r").split(","))
    known = {*contract.wire_columns, BATCH_ID_COLUMN}  # format 1 had it on every row
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise UnknownColumns(
            f"chunk {headers.batch_id}:{headers.chunk_seq} (contract v{headers.contract_version}) "
            f"has columns {unknown} that contract {contract.name} v{contract.version} lacks; "
            "deploy the sink with the newer contract"
        )
    if len(set(columns)) != len(columns) or not set(LINEAGE_COLUMNS) <= set(columns):
        return Malformed(position, f"bad CSV header line {header_line[:200]!r}")
    return Chunk(position, contract, headers, columns, value, len(value) if end < 0 else end + 1)


def decode(record: ConsumerRecord[bytes, bytes], topics: TopicMap) -> Message:
    """What the record is; ``Malformed`` when it breaks the wire format."""
    position = _position(record)
    value = record.value
    if value is None:
        return Malformed(position, "record without a value")
    try:
        if record.topic == topics.manifests_topic:
            return ManifestMessage(position, Manifest.from_bytes(value))
        if record.topic in topics.dlq:
            letter = DeadLetter.model_validate_json(value)
            return DeadLetterMessage(position, topics.dlq[record.topic], letter)
        contract = topics.data[record.topic]
        headers = ChunkHeaders.from_kafka(tuple(record.headers))
        return decode_chunk(position, contract, value, headers)
    except (WireFormatError, ValidationError, ValueError) as exc:
        if isinstance(exc, UnknownColumns):
            raise
        return Malformed(position, f"{type(exc).__name__}: {str(exc)[:500]}")
