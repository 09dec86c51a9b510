-- One row per batch: what the manifest promised, what reached the raw table, what was
-- rejected and by which stage, and whether it all adds up. Rebuilt whole on every run (one
-- row per batch; a batch still loading changes until the ledger marks it loaded).
with batches as (

    select * from {{ ref('stg_batchpipe__batches') }}
    where dataset = '{{ var("bank_dataset") }}'

),

loaded as (

    select
        batch_id,
        count(*) as loaded_rows,
        count(*) - count(distinct source_row) as duplicate_rows,
        min(loaded_at) as first_loaded_at,
        max(loaded_at) as last_loaded_at
    from {{ ref('base_bank__transactions') }}
    group by batch_id

),

rejected as (

    select
        batch_id,
        count(*) filter (where stage = 'producer') as producer_rejected_rows,
        count(*) filter (where stage = 'sink') as sink_rejected_rows
    from {{ ref('stg_batchpipe__rejects') }}
    group by batch_id

),

joined as (

    select
        batches.source_uri,
        batches.manifest_at,
        batches.ledger_loaded_at,
        batches.manifest_rows_read,
        batches.manifest_rows_valid,
        batches.manifest_rows_rejected,
        loaded.first_loaded_at,
        loaded.last_loaded_at,
        coalesce(batches.batch_id, loaded.batch_id) as batch_id,
        coalesce(batches.dataset, '{{ var("bank_dataset") }}') as dataset,
        coalesce(batches.status, 'no_manifest') as status,
        coalesce(loaded.loaded_rows, 0) as loaded_rows,
        coalesce(loaded.duplicate_rows, 0) as duplicate_rows,
        coalesce(rejected.producer_rejected_rows, 0) as producer_rejected_rows,
        coalesce(rejected.sink_rejected_rows, 0) as sink_rejected_rows
    from batches
    full outer join loaded on batches.batch_id = loaded.batch_id
    left join rejected on coalesce(batches.batch_id, loaded.batch_id) = rejected.batch_id

),

final as (

    select
        batch_id,
        dataset,
        source_uri,
        status,
        manifest_at,
        ledger_loaded_at,
        first_loaded_at,
        last_loaded_at,
        manifest_rows_read,
        manifest_rows_valid,
        manifest_rows_rejected,
        loaded_rows,
        duplicate_rows,
        producer_rejected_rows,
        sink_rejected_rows,
        producer_rejected_rows + sink_rejected_rows as rejected_rows,
        manifest_rows_read
        - loaded_rows
        - producer_rejected_rows
        - sink_rejected_rows as unaccounted_rows,
        coalesce(
            loaded_rows + producer_rejected_rows + sink_rejected_rows = manifest_rows_read
            and producer_rejected_rows = manifest_rows_rejected
            and loaded_rows + sink_rejected_rows = manifest_rows_valid
            and duplicate_rows = 0,
            false
        ) as reconciles
    from joined

)

select * from final
