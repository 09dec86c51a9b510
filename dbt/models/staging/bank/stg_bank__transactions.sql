-- One row per fact: exact duplicates by the contract's natural key (all five columns) are
-- dropped and the latest load wins (its lineage columns are kept).
with transactions as (

    select * from {{ ref('base_bank__transactions') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by
                transaction_date, domain, location, total_amount, transaction_count
            order by loaded_at desc, batch_id desc, source_row desc
        ) as load_rank
    from transactions

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
