with source as (
    select * from {{ ref('raw_orders') }}
),

renamed as (
    select
        order_id,
        customer_id,
        amount,
        status,
        ordered_at
    from source
)

select * from renamed
