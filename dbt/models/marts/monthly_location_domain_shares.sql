{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='transaction_month',
        on_schema_change='fail'
    )
}}

-- Per month, city and business domain: the domain's amount and its share of the city's
-- amount that month (the shares of a city and month sum to 1).
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

by_domain as (

    select
        transaction_month,
        location,
        domain,
        sum(total_amount) as domain_amount,
        max(batch_registered_at) as batch_registered_at
    from daily
    group by transaction_month, location, domain

),

with_location as (

    select
        *,
        sum(domain_amount) over (
            partition by transaction_month, location
        ) as location_amount
    from by_domain

),

final as (

    select
        transaction_month,
        location,
        domain,
        domain_amount,
        location_amount,
        round(domain_amount / nullif(location_amount, 0), 6) as share_of_location_amount,
        max(batch_registered_at) over (
            partition by transaction_month
        ) as batch_registered_at,
        {{ run_stamp() }} as built_at
    from with_location

)

select * from final
