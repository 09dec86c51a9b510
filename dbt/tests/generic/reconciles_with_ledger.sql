{% test reconciles_with_ledger(model, ledger, dataset=none) %}
{#- Row-count reconciliation between an audit model and the batch ledger.

    Returns one row per batch the ledger marks `loaded` whose rows do not add up:
      - the batch is missing from the audit model, or
      - loaded + producer-rejected + sink-rejected rows <> the manifest's rows_read, or
      - producer-rejected rows <> the manifest's rows_rejected, or
      - a source row of the batch was loaded more than once.
    When the test runs, every failing batch is also logged by id with its counts, so the
    `dbt build` output names the batch, not only how many rows failed. With `dataset`, only
    that dataset's batches are checked (the ledger holds every dataset's batches). -#}
{%- set failing_batches -%}
with ledger as (
    select
        batch_id,
        manifest_rows_read,
        manifest_rows_rejected
    from {{ ledger }}
    where status = 'loaded'
    {%- if dataset %}
        and dataset = '{{ dataset }}'
    {%- endif %}
),

audit as (
    select
        batch_id,
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
left join audit on ledger.batch_id = audit.batch_id
where
    audit.batch_id is null
    or audit.loaded_rows + audit.producer_rejected_rows + audit.sink_rejected_rows
    <> ledger.manifest_rows_read
    or audit.producer_rejected_rows <> ledger.manifest_rows_rejected
    or audit.duplicate_rows <> 0
{%- endset -%}
{%- if execute and flags.WHICH in ('build', 'test') and load_relation(model) is not none -%}
    {%- set failing = run_query(failing_batches ~ '\norder by batch_id\nlimit 50') -%}
    {%- for batch in failing.rows -%}
        {%- do log(
            'batch ' ~ batch['batch_id'] ~ ' does not reconcile with the ledger: rows_read='
            ~ batch['manifest_rows_read'] ~ ' loaded=' ~ batch['loaded_rows']
            ~ ' producer_rejected=' ~ batch['producer_rejected_rows']
            ~ ' (manifest ' ~ batch['manifest_rows_rejected'] ~ ')'
            ~ ' sink_rejected=' ~ batch['sink_rejected_rows']
            ~ ' duplicates=' ~ batch['duplicate_rows']
            ~ ' unaccounted=' ~ batch['unaccounted_rows'],
            info=true
        ) -%}
    {%- endfor -%}
{%- endif %}
{{ failing_batches }}
{% endtest %}
