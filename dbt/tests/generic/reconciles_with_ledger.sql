{% test reconciles_with_ledger(model, ledger) %}
{#- Row-count reconciliation between batch_audit and the ledger (`ledger`: the sink's
    batches table, one row per batch with its manifest counts and the status the sink set
    with batch_status's rule; read whole, the batch_status view itself would count every
    chunk and reject ever recorded).

    Returns one row per batch the ledger marks `loaded` whose audit row does not reconcile:
    loaded + producer-rejected + sink-rejected rows <> the manifest's rows_read, producer
    rejects <> the manifest's, the raw table holding another number of rows than the ledger
    counts, or a source row loaded twice. With test_scope=full (batchpipe_quality) a loaded
    batch missing from the audit fails too; per run the audit rows written by this run are
    checked (the `where` config). Every failing batch is also logged by id with its counts,
    so the `dbt build` output names the batch, not only how many rows failed. -#}
{%- set failing_batches -%}
with ledger as (
    select
        batch_id,
        rows_read as manifest_rows_read,
        rows_rejected as manifest_rows_rejected
    from {{ ledger }}
    where
        status = 'loaded'
        -- the datasets the audit covers (those with a contract)
        and dataset in (select distinct dataset from {{ model }})
),

audit as (
    select
        batch_id,
        status,
        reconciles,
        loaded_rows,
        producer_rejected_rows,
        sink_rejected_rows,
        duplicate_rows
    from {{ model }}
)

select
    ledger.batch_id,
    ledger.manifest_rows_read,
    ledger.manifest_rows_rejected,
    audit.loaded_rows,
    audit.producer_rejected_rows,
    audit.sink_rejected_rows,
    audit.duplicate_rows,
    ledger.manifest_rows_read
    - coalesce(audit.loaded_rows, 0)
    - coalesce(audit.producer_rejected_rows, 0)
    - coalesce(audit.sink_rejected_rows, 0) as unaccounted_rows
from ledger
{%- if var('test_scope', 'run') == 'full' %}
    left join audit on ledger.batch_id = audit.batch_id
where audit.batch_id is null or not audit.reconciles
{%- else %}
    inner join audit on ledger.batch_id = audit.batch_id
where not audit.reconciles
{%- endif %}
{%- endset -%}
{{- log_failing_batches(failing_batches, 'does not reconcile with the ledger', [
    ('rows_read', 'manifest_rows_read'), ('loaded', 'loaded_rows'),
    ('producer_rejected', 'producer_rejected_rows'),
    ('manifest_rejected', 'manifest_rows_rejected'), ('sink_rejected', 'sink_rejected_rows'),
    ('duplicates', 'duplicate_rows'), ('unaccounted', 'unaccounted_rows'),
]) }}
{{ failing_batches }}
{% endtest %}
