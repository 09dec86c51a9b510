"""Which parser reads an object: the run's explicit format, else the key's extension, else the
contract's format. Gzip is independent of the format (``.gz`` suffix or magic bytes)."""

from __future__ import annotations

from typing import Literal

from batchpipe_common.contracts import Contract

SourceFormat = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


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
