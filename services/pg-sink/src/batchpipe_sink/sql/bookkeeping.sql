-- batchpipe's bookkeeping tables in the warehouse (schema `batchpipe`, owned by batchpipe_sink).
-- Applied by the pg-sink at start (idempotent). dbt reads them as sources.

-- One row per chunk applied to a raw table: the exactly-once ledger. A chunk whose
-- (batch_id, chunk_seq) is here is never applied again.
CREATE TABLE IF NOT EXISTS batchpipe.chunks (
    batch_id        text        NOT NULL,
    chunk_seq       integer     NOT NULL,
    dataset         text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    first_row       bigint      NOT NULL,
    row_count       integer     NOT NULL,
    rows_loaded     integer     NOT NULL,
    rows_rejected   integer     NOT NULL DEFAULT 0,
    applied_by      text        NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, chunk_seq)
);

-- Every rejected row, whichever stage rejected it (producer via the DLQ, or the sink when
-- PostgreSQL refused a value), with its reason and source position.
CREATE TABLE IF NOT EXISTS batchpipe.rejects (
    batch_id     text        NOT NULL,
    dataset      text        NOT NULL,
    stage        text        NOT NULL CHECK (stage IN ('producer', 'sink')),
    source_uri   text        NOT NULL,
    source_row   bigint      NOT NULL,
    raw_line     text,
    errors       jsonb       NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, source_row)
);

-- The batch ledger: what the producer's manifest promised, and what has been applied.
CREATE TABLE IF NOT EXISTS batchpipe.batches (
    batch_id          text        PRIMARY KEY,
    dataset           text        NOT NULL,
    contract_version  integer     NOT NULL,
    source_uri        text        NOT NULL,
    sha256            text        NOT NULL,
    rows_read         bigint      NOT NULL,
    rows_valid        bigint      NOT NULL,
    rows_rejected     bigint      NOT NULL,
    chunk_count       integer     NOT NULL,
    data_offsets      jsonb       NOT NULL,
    dlq_offsets       jsonb       NOT NULL,
    manifest_at       timestamptz NOT NULL,
    status            text        NOT NULL DEFAULT 'loading'
                                  CHECK (status IN ('loading', 'loaded')),
    loaded_at         timestamptz
);

-- The one rule of "is this batch done": per batch, what the manifest expects against what has
-- been applied (chunks, rows loaded) and rejected (by the producer, by the sink). `reconciles`
-- is true when every chunk is applied, the producer's rejects are all recorded, and every row
-- read is loaded or rejected. The sink marks a batch `loaded` when it reconciles; the sink's
-- API, Airflow's reconcile task and dbt's batch_audit all read this view. A batch with chunks
-- or rejects but no manifest yet has status awaiting_manifest. Per-batch counts come from the
-- primary-key indexes of chunks and rejects, so a filter on batch_id reads only that batch.
CREATE OR REPLACE VIEW batchpipe.batch_status AS
WITH ids AS (
    SELECT batch_id FROM batchpipe.batches
    UNION
    SELECT batch_id FROM batchpipe.chunks
    UNION
    SELECT batch_id FROM batchpipe.rejects
), counted AS (
    SELECT
        ids.batch_id,
        coalesce(
            b.dataset,
            (SELECT ch.dataset FROM batchpipe.chunks ch WHERE ch.batch_id = ids.batch_id LIMIT 1),
            (SELECT rj.dataset FROM batchpipe.rejects rj WHERE rj.batch_id = ids.batch_id LIMIT 1)
        ) AS dataset,
        b.batch_id IS NOT NULL AS has_manifest,
        b.contract_version, b.source_uri, b.sha256,
        b.rows_read, b.rows_valid, b.rows_rejected, b.chunk_count,
        b.data_offsets, b.dlq_offsets, b.manifest_at,
        b.status AS ledger_status, b.loaded_at,
        c.chunks_applied, c.rows_loaded, c.rows_refused,
        r.rejected_by_producer, r.rejected_by_sink
    FROM ids
    LEFT JOIN batchpipe.batches b ON b.batch_id = ids.batch_id
    CROSS JOIN LATERAL (
        SELECT count(*) AS chunks_applied,
               coalesce(sum(ch.rows_loaded), 0) AS rows_loaded,
               coalesce(sum(ch.rows_rejected), 0) AS rows_refused
        FROM batchpipe.chunks ch WHERE ch.batch_id = ids.batch_id
    ) c
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE rj.stage = 'producer') AS rejected_by_producer,
               count(*) FILTER (WHERE rj.stage = 'sink') AS rejected_by_sink
        FROM batchpipe.rejects rj WHERE rj.batch_id = ids.batch_id
    ) r
)
SELECT
    batch_id, dataset, has_manifest, contract_version, source_uri, sha256,
    rows_read, rows_valid, rows_rejected, chunk_count, data_offsets, dlq_offsets,
    manifest_at, loaded_at,
    chunks_applied, rows_loaded, rows_refused, rejected_by_producer, rejected_by_sink,
    rejected_by_producer + rejected_by_sink AS rows_rejected_total,
    coalesce(
        chunks_applied = chunk_count
        AND rejected_by_producer = rows_rejected
        AND rows_loaded + rows_refused = rows_valid
        AND rows_loaded + rejected_by_producer + rejected_by_sink = rows_read,
        false
    ) AS reconciles,
    CASE WHEN has_manifest THEN ledger_status ELSE 'awaiting_manifest' END AS status
FROM counted;
