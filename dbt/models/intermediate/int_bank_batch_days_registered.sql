{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail'
    )
}}

-- Which days each loaded bank batch touched, recorded once per batch in the run that first
-- sees the batch `loaded` in the ledger. Set-based (batch ids, not load timestamps), so a
-- sink transaction that commits while dbt runs is never skipped. A batch without rows is
-- registered with a null day so it is not looked at again.
with batches as (

    select batches.batch_id
    from {{ ref('stg_batchpipe__batches') }} as batches
    where
        batches.is_loaded
        and batches.dataset = 'bank_transactions'
        {%- if is_incremental() %}
            and not exists (
                select 1
                from {{ this }} as registered
                where registered.batch_id = batches.batch_id
            )
        {%- endif %}

),

transactions as (

    select
        batch_id,
        transaction_date
    from {{ ref('base_bank__transactions') }}
    where batch_id in (select batches.batch_id from batches)

),

batch_days as (

    select
        batches.batch_id,
        transactions.transaction_date,
        count(transactions.batch_id) as row_count
    from batches
    left join transactions on batches.batch_id = transactions.batch_id
    group by batches.batch_id, transactions.transaction_date

),

final as (

    select
        batch_id,
        transaction_date,
        cast(date_trunc('month', transaction_date) as date) as transaction_month,
        row_count,
        {{ run_stamp() }} as registered_at
    from batch_days

)

select * from final
