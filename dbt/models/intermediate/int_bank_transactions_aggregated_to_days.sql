{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='transaction_date',
        on_schema_change='fail'
    )
}}

-- Facts of registered (fully loaded) batches, deduplicated by the contract's natural key
-- (latest load wins) and summed per day, domain and location: the grain every mart rolls
-- up from. An incremental run rebuilds only the days that batches registered since the
-- last run touched, reading only those days' raw rows; every other day keeps its rows.
with registrations as (

    select * from {{ ref('int_bank_batch_days_registered') }}

),

watermark as (

    -- the latest registration this table has already absorbed
    {%- if is_incremental() %}
        select coalesce(max(previous.batch_registered_at), '-infinity') as registered_at
        from {{ this }} as previous
    {%- else %}
        select cast('-infinity' as timestamp with time zone) as registered_at
    {%- endif %}

),

affected_days as (

    select distinct registrations.transaction_date
    from registrations
    where registrations.registered_at > (select watermark.registered_at from watermark)

),

days as (

    select
        transaction_date,
        max(registered_at) as batch_registered_at
    from registrations
    where
        transaction_date in (select affected_days.transaction_date from affected_days)
    group by transaction_date

),

transactions as (

    select base.*
    from {{ ref('base_bank__transactions') }} as base
    where
        base.transaction_date in (select days.transaction_date from days)
        and base.batch_id in (select registrations.batch_id from registrations)

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

aggregated as (

    select
        ranked.transaction_date,
        ranked.domain,
        ranked.location,
        sum(ranked.total_amount) as total_amount,
        sum(ranked.transaction_count) as transaction_count,
        count(*) as source_rows
    from ranked
    where ranked.load_rank = 1
    group by ranked.transaction_date, ranked.domain, ranked.location

),

final as (

    select
        aggregated.transaction_date,
        cast(date_trunc('month', aggregated.transaction_date) as date) as transaction_month,
        aggregated.domain,
        aggregated.location,
        aggregated.total_amount,
        aggregated.transaction_count,
        aggregated.source_rows,
        days.batch_registered_at,
        {{ run_stamp() }} as built_at
    from aggregated
    inner join days on aggregated.transaction_date = days.transaction_date

)

select * from final
