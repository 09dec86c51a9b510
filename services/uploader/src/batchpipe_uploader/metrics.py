"""Prometheus metrics of the uploader (module-level, served by ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BYTES = Counter("batchpipe_uploader_bytes_total", "Bytes received and streamed to S3", ["dataset"])
UPLOADS = Counter(
    "batchpipe_uploader_uploads_total",
    "Uploads by outcome: stored, deduplicated or failed",
    ["dataset", "outcome"],
)
UPLOAD_DURATION = Histogram(
    "batchpipe_uploader_upload_duration_seconds",
    "Wall time of an upload",
    ["dataset"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
LEFTOVERS = Gauge(
    "batchpipe_uploader_leftovers",
    "Multipart uploads and staging objects left behind while S3 was unreachable, to clean",
)
