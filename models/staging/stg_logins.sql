with source as (

    {{ event_payload(ref('src_logins'), 'logins') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('logins') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'user_id' as user_id,
        data ->> 'device_id' as device_id,
        data ->> 'ip' as ip,
        data ->> 'country' as country,
        (data ->> 'success')::boolean as success
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
