with source as (

    {{ event_payload(ref('src_clicks'), 'clicks') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('clicks') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'user_id' as user_id,
        data ->> 'event_type' as event_type,
        data ->> 'page_url' as page_url,
        data ->> 'product_id' as product_id,
        data ->> 'referrer' as referrer,
        data ->> 'user_agent' as user_agent,
        data ->> 'country' as country
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
