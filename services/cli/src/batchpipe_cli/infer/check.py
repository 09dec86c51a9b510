"""``batchpipe contract check``: the producer's own parsing and validation over a local file,
nothing uploaded, nothing sent; what would be read, kept and rejected, and why."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from batchpipe_common.contracts import Contract

FIRST_REJECTS = 5
"""Rejects shown per column (the count covers them all)."""


@dataclass
class Outcome:
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    failure: str | None = None
    """A file-level failure (wrong header, corrupt gzip...): nothing would load."""
    rejects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per column (``<row>`` for row-level errors): the first rejects, row, value, reason."""
    reject_counts: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.failure is None and self.rows_rejected == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "failure": self.failure,
            "reject_counts": self.reject_counts,
            "first_rejects": self.rejects,
            "passes": self.clean,
        }


class _Collector:
    """An outbox that keeps the dead letters' reasons and drops the chunks."""

    def __init__(self) -> None:
        self.rejects: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def submit(self, messages: list[Any]) -> None:
        for message in messages:
            if message.kind != "dead_letter":
                continue
            letter = orjson.loads(message.value)
            for error in letter["errors"]:
                column = error.get("column") or "<row>"
                self.counts[column] += 1
                if len(self.rejects[column]) < FIRST_REJECTS:
                    self.rejects[column].append(
                        {
                            "row": letter["source_row"],
                            "value": error.get("value"),
                            "reason": error["reason"],
                        }
                    )


def check_file(contract: Contract, path: Path) -> Outcome:
    """Run ``path`` through the producer's parser and validator for ``contract``."""
    from typing import cast

    from batchpipe_producer.errors import UnreadableSource
    from batchpipe_producer.formats import resolve_format, validate_stream
    from batchpipe_producer.source import ObjectStream, decompressed

    collector = _Collector()
    outcome = Outcome()
    fmt = resolve_format(path.name, contract, None)
    try:
        with (
            path.open("rb", buffering=0) as raw,
            decompressed(cast(ObjectStream, raw), path.name) as stream,
        ):
            progress = validate_stream(contract, stream, fmt, collector, source_uri=f"file:{path}")
    except UnreadableSource as exc:
        outcome.failure = str(exc)
        return outcome
    outcome.rows_read = progress.rows_read
    outcome.rows_valid = progress.rows_valid
    outcome.rows_rejected = progress.rows_rejected
    outcome.rejects = dict(collector.rejects)
    outcome.reject_counts = dict(collector.counts)
    return outcome
