{% macro stage_contract(dataset, raw_relation, columns, natural_key) -%}
    {#- The body of a generated staging model (dbt/scripts/generate_staging.py writes one per
        contract): the rows of every batch the ledger marks `loaded` (batchpipe.batches.status,
        set by the sink with batch_status's rule) and this table has not taken yet, typed and
        renamed as the contract says, with the lineage columns, a hash of the contract's
        natural key, and `taken_at` (this run's start).

        De-duplication is against the table's unique index on `key_hash`: the model's
        incremental strategy `insert_new` (macros/insert_new.sql) inserts with ON CONFLICT DO
        NOTHING, so a fact already held is not taken again (the first load wins and keeps its
        lineage); within the new batches the earliest load of a fact wins (DISTINCT ON).
        Nothing reads the history: the new batches come from the raw table's BRIN index on
        _batch_id, the held facts are probed in the key index.

        columns: list of {'name': ..., 'type': ...} (the contract's names and PostgreSQL
        types); natural_key: list of column names. -#}
with batches as (

    -- the ledger's batches table, one row per batch: its status is what the sink wrote by
    -- batch_status's rule. Not the view itself: read whole, it counts every chunk and reject
    -- ever recorded, a cost that grows with the ledger's history.
    select ledger.batch_id
    from {{ source('batchpipe', 'batches') }} as ledger
    where
        ledger.dataset = '{{ dataset }}'
        and ledger.status = 'loaded'
        {%- if is_incremental() %}
            and not exists (
                select 1
                from {{ this }} as taken
                where taken.batch_id = ledger.batch_id
            )
        {%- endif %}

),

typed as (

    select
        {%- for column in columns %}
            cast(raw.{{ column.name }} as {{ column.type }})
            as {{ column.name }},
        {%- endfor %}
        raw._batch_id as batch_id,
        raw._source_row as source_row,
        raw._loaded_at as loaded_at
    from {{ raw_relation }} as raw
    where raw._batch_id in (select batches.batch_id from batches)

),

keyed as (

    select
        *,
        cast(md5(row(
            {%- for key in natural_key %}
                {{ key }}{{ "," if not loop.last }}
            {%- endfor %}
        )::text) as uuid) as key_hash
    from typed

),

first_loads as (

    select distinct on (key_hash) *
    from keyed
    order by key_hash asc, loaded_at asc, batch_id asc, source_row asc

),

final as (

    -- facts the table already holds are skipped on insert (strategy insert_new)
    select
        first_loads.*,
        {{ run_stamp() }} as taken_at
    from first_loads

)

select * from final
{%- endmacro %}
