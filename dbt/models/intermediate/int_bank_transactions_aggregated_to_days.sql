{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['transaction_date', 'domain', 'location'],
        on_schema_change='fail',
        indexes=[{'columns': ['transaction_date', 'domain', 'location'], 'unique': True}]
    )
}}

-- Bank facts summed per day, domain and city (domain upper case, city in initial capitals):
-- the grain every mart rolls up from. Staging only ever adds facts (each fact once, never
-- changed), so a run adds the sums of the facts staging took since this table's watermark
-- to the rows they touch: the cost follows the new batches, not the history.
with watermark as (

    -- the latest staging run this table has already absorbed
    {%- if is_incremental() %}
        select coalesce(max(previous.batch_registered_at), '-infinity') as taken_at
        from {{ this }} as previous
    {%- else %}
        select cast('-infinity' as timestamp with time zone) as taken_at
    {%- endif %}

),

new_facts as (

    select
        staged.transaction_date,
        upper(trim(staged.domain)) as domain,
        initcap(trim(staged.location)) as location,
        staged.total_amount,
        staged.transaction_count,
        staged.taken_at
    from {{ ref('stg_raw__bank_transactions') }} as staged
    where staged.taken_at > (select watermark.taken_at from watermark)

),

delta as (

    select
        transaction_date,
        domain,
        location,
        sum(total_amount) as total_amount,
        sum(transaction_count) as transaction_count,
        count(*) as source_rows,
        max(taken_at) as batch_registered_at
    from new_facts
    group by transaction_date, domain, location

),

previous as (

    -- the table's rows (none on a full build); the join below reads only the touched ones
    {%- if is_incremental() %}
        select
            transaction_date,
            domain,
            location,
            total_amount,
            transaction_count,
            source_rows
        from {{ this }}
    {%- else %}
        select
            cast(null as date) as transaction_date,
            cast(null as text) as domain,
            cast(null as text) as location,
            cast(null as numeric) as total_amount,
            cast(null as bigint) as transaction_count,
            cast(null as bigint) as source_rows
        where false
    {%- endif %}

),

combined as (

    select
        delta.transaction_date,
        delta.domain,
        delta.location,
        delta.batch_registered_at,
        delta.total_amount + coalesce(previous.total_amount, 0) as total_amount,
        delta.transaction_count
        + coalesce(previous.transaction_count, 0) as transaction_count,
        delta.source_rows + coalesce(previous.source_rows, 0) as source_rows
    from delta
    left join previous
        on
            delta.transaction_date = previous.transaction_date
            and delta.domain = previous.domain
            and delta.location = previous.location

),

final as (

    select
        transaction_date,
        cast(date_trunc('month', transaction_date) as date) as transaction_month,
        domain,
        location,
        total_amount,
        transaction_count,
        source_rows,
        batch_registered_at,
        {{ run_stamp() }} as built_at
    from combined

)

select * from final
