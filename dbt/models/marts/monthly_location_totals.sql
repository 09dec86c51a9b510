{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='transaction_month',
        on_schema_change='fail'
    )
}}

-- Per month and city: amount, transaction count, amount per transaction and the city's rank
-- by amount within the month (1 = largest; ties share a rank). A month is rebuilt whole, so
-- its ranks are always computed over all of its cities.
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
    where aggregated.transaction_month in (
            select changed.transaction_month
            from {{ ref('int_bank_transactions_aggregated_to_days') }} as changed
            where changed.batch_registered_at > (select watermark.registered_at from watermark)
        )

),

by_location as (

    select
        transaction_month,
        location,
        sum(total_amount) as total_amount,
        sum(transaction_count) as transaction_count,
        sum(source_rows) as source_rows,
        max(batch_registered_at) as batch_registered_at
    from daily
    group by transaction_month, location

),

final as (

    select
        transaction_month,
        location,
        total_amount,
        transaction_count,
        round(total_amount / nullif(transaction_count, 0), 2) as amount_per_transaction,
        rank() over (
            partition by transaction_month order by total_amount desc
        ) as amount_rank_in_month,
        source_rows,
        batch_registered_at,
        {{ run_stamp() }} as built_at
    from by_location

)

select * from final
