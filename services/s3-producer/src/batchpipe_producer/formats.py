"""Which parser reads an object: the run's explicit format, else the key's extension, else the
contract's format. Gzip is independent of the format (``.gz`` suffix or magic bytes).

``produce`` runs the parser of a format over a stream; ``validate_stream`` does it for a local
file or stream, without S3 or Kafka (the entry point for checking a file against a contract).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Literal

from batchpipe_common.contracts import Contract
from batchpipe_producer.chunks import BatchWriter, Outbox, Progress, RunIdentity
from batchpipe_producer.csv_source import produce_csv
from batchpipe_producer.jsonl_source import produce_jsonl
from batchpipe_producer.parquet_source import produce_parquet

SourceFormat = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
LOCAL_BATCH = "local"


def resolve_format(key: str, contract: Contract, requested: SourceFormat | None) -> SourceFormat:
    if requested is not None:
        return requested
    name = key.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    return contract.format


def produce(
    fmt: SourceFormat, content: BinaryIO, writer: BatchWriter, spool_dir: Path | None = None
) -> None:
    """Parse, validate and hand over every row of ``content`` (decompressed) to ``writer``."""
    if fmt == "csv":
        produce_csv(content, writer)
    elif fmt == "jsonl":
        produce_jsonl(content, writer)
    else:
        produce_parquet(content, writer, spool_dir)


def validate_stream(
    contract: Contract,
    content: BinaryIO,
    fmt: SourceFormat,
    outbox: Outbox,
    *,
    source_uri: str = "file:local",
    chunk_rows: int = 10_000,
    chunk_bytes: int = 1_000_000,
) -> Progress:
    """Validate a local stream against ``contract``: chunks of valid rows and one dead letter
    per rejected row go to ``outbox.submit`` (as ``OutMessage``s, batch id ``local``); returns
    the counts. Raises ``UnreadableSource`` for a file-level failure (wrong header...)."""
    writer = BatchWriter(
        RunIdentity(LOCAL_BATCH, contract, source_uri), outbox, chunk_rows, chunk_bytes
    )
    produce(fmt, content, writer)
    return writer.progress
