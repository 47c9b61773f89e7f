{#-
  Per user: the last successful login (device, time, whether the device was new) and the
  last risky event (a new-device login or a device change: int_risky_events).
-#}
with logins as (

    select * from {{ ref('stg_logins') }}

),

risky_events as (

    select * from {{ ref('int_risky_events') }}

),

successful_logins as (

    select event_id, user_id, device_id, event_time
    from logins
    where success

),

last_login as (

    select distinct on (user_id)
        user_id,
        event_id as last_login_event_id,
        device_id as last_login_device,
        event_time as last_login_time
    from successful_logins
    order by user_id, event_time desc, event_id desc

),

last_risky as (

    select distinct on (user_id)
        user_id,
        event_id as last_risky_event_id,
        reason as last_risky_reason,
        event_time as last_risky_time
    from risky_events
    order by user_id, event_time desc, event_id desc

),

new_device_logins as (

    select user_id, event_id
    from risky_events
    where reason = 'new_device_login'

),

users as (

    select user_id from last_login
    union
    select user_id from last_risky

),

final as (

    select
        users.user_id,
        last_login.last_login_time,
        last_login.last_login_device,
        case
            when last_login.user_id is null then null
            else new_device_logins.event_id is not null
        end as last_login_new_device,
        last_risky.last_risky_time,
        last_risky.last_risky_reason
    from users
    left join last_login
        on users.user_id = last_login.user_id
    left join new_device_logins
        on last_login.user_id = new_device_logins.user_id
        and last_login.last_login_event_id = new_device_logins.event_id
    left join last_risky
        on users.user_id = last_risky.user_id

)

select * from final
