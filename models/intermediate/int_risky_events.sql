{#- Read by feat_user_logins and account_takeover_alerts: maintained once and shared by both
    (inlined, each would keep its own first-device-use state). -#}
{{ config(materialized='materialized_view') }}

with logins as (

    select * from {{ ref('stg_logins') }}

),

device_changes as (

    select * from {{ ref('stg_device_changes') }}

),

successful_logins as (

    select event_id, user_id, device_id, event_time
    from logins
    where success

),

first_device_use as (

    -- a device is new in every successful login at its first instant (ties are all new)
    select user_id, device_id, min(event_time) as first_used_at
    from successful_logins
    group by user_id, device_id

),

new_device_logins as (

    select
        successful_logins.event_id,
        successful_logins.user_id,
        'new_device_login' as reason,
        successful_logins.event_time
    from successful_logins
    inner join first_device_use
        on successful_logins.user_id = first_device_use.user_id
        and successful_logins.device_id = first_device_use.device_id
        and successful_logins.event_time = first_device_use.first_used_at

),

device_change_events as (

    select
        event_id,
        user_id,
        change_type as reason,
        event_time
    from device_changes

),

final as (

    select * from new_device_logins
    union all
    select * from device_change_events

)

select * from final
