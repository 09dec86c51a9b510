-- One row per fact of a loaded batch: exact duplicates by the contract's natural key (all
-- five columns) are dropped and the latest load wins (its lineage columns are kept). Rows of
-- a batch without a manifest (a failed run, a content hash mismatch) never get here.
with transactions as (

    select * from {{ ref('base_bank__transactions') }}

),

batches as (

    select * from {{ ref('stg_batchpipe__batches') }}

),

loaded as (

    select transactions.*
    from transactions
    inner join batches
        on transactions.batch_id = batches.batch_id
    where batches.is_loaded

),

ranked as (

    select
        *,
        row_number() over (
            partition by
                transaction_date, domain, location, total_amount, transaction_count
            order by loaded_at desc, batch_id desc, source_row desc
        ) as load_rank
    from loaded

),

final as (

    select
        transaction_date,
        domain,
        location,
        total_amount,
        transaction_count,
        batch_id,
        source_row,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from final
