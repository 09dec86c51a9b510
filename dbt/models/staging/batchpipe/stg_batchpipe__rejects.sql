with source as (

    select * from {{ source('batchpipe', 'rejects') }}

),

renamed as (

    select
        batch_id,
        dataset,
        stage,
        source_uri,
        source_row,
        raw_line,
        errors,
        rejected_at
    from source

)

select * from renamed
