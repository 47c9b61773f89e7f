with source as (

    {{ event_payload(ref('src_cart_events'), 'cart_events') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('cart_events') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'user_id' as user_id,
        data ->> 'event_type' as event_type,
        data ->> 'product_id' as product_id,
        (data ->> 'quantity')::integer as quantity,
        (data ->> 'unit_price')::numeric(12, 2) as unit_price
    from well_formed

),

retained as (

    select * from typed
    where {{ within_retention('event_time') }}

),

deduplicated as (

    {{ deduplicate_events('retained') }}

)

select * from deduplicated
