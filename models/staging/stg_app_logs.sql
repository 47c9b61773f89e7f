with source as (

    {{ event_payload(ref('src_app_logs'), 'app_logs') }}

),

well_formed as (

    select data
    from source
    where {{ malformed_reason('app_logs') }} is null

),

typed as (

    select
        data ->> 'event_id' as event_id,
        (data ->> 'event_time')::timestamptz as event_time,
        data ->> 'service' as service,
        data ->> 'level' as level,
        data ->> 'message' as message,
        data ->> 'trace_id' as trace_id
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
