with source as (

    {{ event_payload(ref('src_transactions'), 'transactions') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('transactions') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'transaction_id' as transaction_id,
        data ->> 'user_id' as user_id,
        (data ->> 'amount')::numeric(12, 2) as amount,
        data ->> 'currency' as currency,
        data ->> 'merchant_id' as merchant_id,
        data ->> 'country' as country,
        data ->> 'device_id' as device_id
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
