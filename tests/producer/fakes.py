"""A recording outbox for driving the parsers without Kafka."""

from __future__ import annotations

from typing import Any

import orjson

from batchpipe_common.contracts import Contract
from batchpipe_common.wire import ChunkHeaders
from batchpipe_producer.chunks import BatchWriter, OutMessage, RunIdentity
from tests.producer.planted import parse_chunk

BATCH = "bank_transactions-v1-00000000000000000000"


class RecordingOutbox:
    def __init__(self) -> None:
        self.messages: list[OutMessage] = []

    def submit(self, messages: list[OutMessage]) -> None:
        self.messages.extend(messages)

    @property
    def chunks(self) -> list[OutMessage]:
        return [m for m in self.messages if m.kind == "chunk"]

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        return [orjson.loads(m.value) for m in self.messages if m.kind == "dead_letter"]

    def rows(self) -> list[list[str]]:
        """Every data row of every chunk, header lines dropped."""
        out: list[list[str]] = []
        for message in self.chunks:
            _header, *rows = parse_chunk(message.value)
            headers = ChunkHeaders.from_kafka(message.headers or [])
            assert headers.row_count == len(rows)
            assert headers.first_row == int(rows[0][-1])
            out.extend(rows)
        return out


def writer_for(
    contract: Contract, rows: int = 1000, max_bytes: int = 1_000_000
) -> tuple[BatchWriter, RecordingOutbox]:
    outbox = RecordingOutbox()
    writer = BatchWriter(RunIdentity(BATCH, contract, "s3://b/k"), outbox, rows, max_bytes)
    return writer, outbox
