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
