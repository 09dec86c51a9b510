{% test rows_match_ledger(model, dataset) %}
{#- Full history (tag full_history, daily in batchpipe_quality): for every batch of the
    dataset the ledger marks `loaded`, the raw table holds exactly the rows the sink's chunk
    ledger says it loaded. One row per batch that differs; each is logged by id. -#}
{%- set failing_batches -%}
with raw_rows as (
    select _batch_id as batch_id, count(*) as raw_rows
    from {{ model }}
    group by _batch_id
)

select
    status.batch_id,
    status.rows_loaded as ledger_rows_loaded,
    coalesce(raw_rows.raw_rows, 0) as raw_rows
from {{ source('batchpipe', 'batch_status') }} as status
left join raw_rows on status.batch_id = raw_rows.batch_id
where
    status.dataset = '{{ dataset }}'
    and status.status = 'loaded'
    and coalesce(raw_rows.raw_rows, 0) <> status.rows_loaded
{%- endset -%}
{{- log_failing_batches(failing_batches, 'differs from the ledger', [
    ('raw_rows', 'raw_rows'), ('ledger_rows_loaded', 'ledger_rows_loaded'),
]) }}
{{ failing_batches }}
{% endtest %}
