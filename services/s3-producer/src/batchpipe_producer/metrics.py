"""Prometheus metrics of the s3-producer (module-level, served by ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BYTES_READ = Counter(
    "batchpipe_producer_bytes_read_total",
    "Bytes of S3 objects read (as stored, before decompression)",
    ["dataset"],
)
ROWS = Counter(
    "batchpipe_producer_rows_total",
    "Source rows by outcome: valid (sent in a chunk) or rejected (sent to the DLQ)",
    ["dataset", "outcome"],
)
CHUNKS = Counter("batchpipe_producer_chunks_total", "Chunks sent to the data topic", ["dataset"])
RUNS = Counter("batchpipe_producer_runs_total", "Finished runs by final state", ["state"])
RUNS_ACTIVE = Gauge("batchpipe_producer_runs_active", "Runs currently producing")
RUNS_QUEUED = Gauge("batchpipe_producer_runs_queued", "Runs waiting for a free slot")
RUN_DURATION = Histogram(
    "batchpipe_producer_run_duration_seconds",
    "Wall time of a run from start to manifest (or failure)",
    ["dataset", "state"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RUNS_STALLED = Counter(
    "batchpipe_producer_runs_stalled_total",
    "Runs cancelled because their progress did not move for the stall timeout",
)
