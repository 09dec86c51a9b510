"""Request and response bodies of the s3-producer API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from batchpipe_common.wire import Manifest
from batchpipe_producer.formats import SourceFormat
from batchpipe_producer.runs import Run, RunState


class RunRequest(BaseModel):
    s3_uri: str = Field(description="s3://bucket/key of the object to produce")
    dataset: str = Field(description="name of the dataset contract")
    format: SourceFormat | None = Field(
        default=None, description="override: csv, jsonl or parquet (default: key, then contract)"
    )


class RunAccepted(BaseModel):
    batch_id: str
    status_url: str
    state: RunState
    started: bool = Field(description="false when an existing run of the same batch is returned")


class RunProgress(BaseModel):
    bytes_read: int
    bytes_total: int
    rows_read: int
    rows_valid: int
    rows_rejected: int
    chunks_sent: int


class RunStatus(BaseModel):
    batch_id: str
    dataset: str
    source_uri: str
    sha256: str
    format: SourceFormat
    state: RunState
    progress: RunProgress
    manifest: Manifest | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> RunStatus:
        p = run.progress
        return cls(
            batch_id=run.batch_id,
            dataset=run.contract.name,
            source_uri=run.source_uri,
            sha256=run.sha256,
            format=run.format,
            state=run.state,
            progress=RunProgress(
                bytes_read=p.bytes_read,
                bytes_total=p.bytes_total,
                rows_read=p.rows_read,
                rows_valid=p.rows_valid,
                rows_rejected=p.rows_rejected,
                chunks_sent=p.chunks_sent,
            ),
            manifest=run.manifest,
            error=run.error,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
