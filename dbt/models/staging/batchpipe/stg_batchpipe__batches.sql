with source as (

    select * from {{ source('batchpipe', 'batches') }}

),

renamed as (

    select
        batch_id,
        dataset,
        contract_version,
        source_uri,
        sha256,
        rows_read as manifest_rows_read,
        rows_valid as manifest_rows_valid,
        rows_rejected as manifest_rows_rejected,
        chunk_count as manifest_chunk_count,
        manifest_at,
        status,
        loaded_at as ledger_loaded_at,
        coalesce(status = 'loaded', false) as is_loaded
    from source

)

select * from renamed
