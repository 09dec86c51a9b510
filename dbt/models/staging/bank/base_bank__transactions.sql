-- Every raw row, renamed, cast and normalized; duplicates kept (batch_audit counts them,
-- stg_bank__transactions and the intermediate models drop them).
with source as (

    select * from {{ source('raw', 'bank_transactions') }}

),

renamed as (

    select
        cast(transaction_date as date) as transaction_date,
        upper(trim(domain)) as domain,
        initcap(trim(location)) as location,
        cast(total_amount as numeric(14, 2)) as total_amount,
        cast(transaction_count as integer) as transaction_count,
        _batch_id as batch_id,
        _source_row as source_row,
        _loaded_at as loaded_at
    from source

)

select * from renamed
