"""Prometheus metrics of the pg-sink (prefix ``batchpipe_sink_``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

ROWS_APPLIED = Counter(
    "batchpipe_sink_rows_applied_total", "Rows copied into raw tables", ["dataset"]
)
CHUNKS_APPLIED = Counter(
    "batchpipe_sink_chunks_applied_total", "Chunks applied (first time seen)", ["dataset"]
)
DUPLICATES_SKIPPED = Counter(
    "batchpipe_sink_duplicate_chunks_skipped_total",
    "Chunks skipped because batchpipe.chunks already held them",
    ["dataset"],
)
REJECTS = Counter(
    "batchpipe_sink_rejects_total",
    "Rows recorded in batchpipe.rejects, by the stage that rejected them",
    ["dataset", "stage"],
)
MANIFESTS = Counter("batchpipe_sink_manifests_total", "Manifests recorded in the ledger")
BATCHES_LOADED = Counter("batchpipe_sink_batches_loaded_total", "Batches marked loaded")
MALFORMED = Counter(
    "batchpipe_sink_malformed_messages_total",
    "Messages skipped because they do not follow the wire format",
    ["topic"],
)
TRANSACTION_SECONDS = Histogram(
    "batchpipe_sink_transaction_seconds",
    "Duration of one poll batch's PostgreSQL transaction",
    buckets=_DURATION_BUCKETS,
)
COPY_SECONDS = Histogram(
    "batchpipe_sink_copy_seconds",
    "Duration of one COPY stream into a raw table",
    ["dataset"],
    buckets=_DURATION_BUCKETS,
)
RETRIES = Counter(
    "batchpipe_sink_retries_total",
    "Poll batches held back and retried after an error (PostgreSQL or Kafka down)",
    ["reason"],
)
OFFSET_COMMIT_FAILURES = Counter(
    "batchpipe_sink_offset_commit_failures_total",
    "Kafka offset commits that failed (rows are in PostgreSQL; redelivery is skipped)",
)
LAG = Gauge(
    "batchpipe_sink_lag_messages",
    "End offset minus the group's committed offset",
    ["topic", "partition"],
)
CONTRACTS_REFUSED = Gauge(
    "batchpipe_sink_contracts_refused",
    "Contracts whose raw table cannot be reconciled (their topics are not consumed)",
)
PAUSED = Gauge("batchpipe_sink_paused", "1 while consumption is paused on request")
STALLED_SECONDS = Gauge(
    "batchpipe_sink_stalled_seconds",
    "Seconds without progress while the assigned partitions have lag (0 when progressing)",
)
WATCHDOG_TRIPS = Counter(
    "batchpipe_sink_watchdog_trips_total",
    "Times the progress watchdog reported the replica not ready or not live",
    ["level"],
)
DEADLINES = Counter(
    "batchpipe_sink_deadlines_total",
    "Calls to PostgreSQL or Kafka ended by their deadline or by a lost connection",
    ["what"],
)
