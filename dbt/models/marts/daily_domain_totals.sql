{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='transaction_date',
        on_schema_change='fail'
    )
}}

-- Per day and business domain: amount, transaction count and amount per transaction.
-- Incremental: rebuilds whole only the days whose intermediate rows changed since the last run.
with watermark as (

    -- the latest registration this table has already absorbed
    {%- if is_incremental() %}
        select coalesce(max(previous.batch_registered_at), '-infinity') as registered_at
        from {{ this }} as previous
    {%- else %}
        select cast('-infinity' as timestamp with time zone) as registered_at
    {%- endif %}

),

daily as (

    select aggregated.*
    from {{ ref('int_bank_transactions_aggregated_to_days') }} as aggregated
    where aggregated.transaction_date in (
            select changed.transaction_date
            from {{ ref('int_bank_transactions_aggregated_to_days') }} as changed
            where changed.batch_registered_at > (select watermark.registered_at from watermark)
        )

),

by_domain as (

    select
        transaction_date,
        domain,
        sum(total_amount) as total_amount,
        sum(transaction_count) as transaction_count,
        sum(source_rows) as source_rows,
        max(batch_registered_at) as batch_registered_at
    from daily
    group by transaction_date, domain

),

final as (

    select
        transaction_date,
        domain,
        total_amount,
        transaction_count,
        round(total_amount / nullif(transaction_count, 0), 2) as amount_per_transaction,
        source_rows,
        batch_registered_at,
        {{ run_stamp() }} as built_at
    from by_domain

)

select * from final
