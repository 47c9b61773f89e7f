with source as (

    {{ event_payload(ref('src_device_changes'), 'device_changes') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('device_changes') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'user_id' as user_id,
        data ->> 'change_type' as change_type,
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
