with source as (

    {{ event_payload(ref('src_purchases'), 'purchases') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('purchases') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'user_id' as user_id,
        data ->> 'order_id' as order_id,
        (data ->> 'amount')::numeric(12, 2) as amount,
        data ->> 'currency' as currency,
        (data ->> 'item_count')::integer as item_count
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
