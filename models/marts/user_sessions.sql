with activity as (

    select * from {{ ref('int_user_activity') }}

),

with_previous as (

    select
        *,
        lag(event_time) over (partition by user_id order by event_time) as previous_event_time
    from activity

),

session_starts as (

    -- a gap of exactly 30 minutes stays in the session; events at the same instant never split
    select
        *,
        case
            when previous_event_time is null then 1
            when event_time - previous_event_time > interval '30 minutes' then 1
            else 0
        end as is_session_start
    from with_previous

),

numbered as (

    select
        *,
        sum(is_session_start) over (partition by user_id order by event_time) as session_number
    from session_starts

),

sessions as (

    select
        user_id,
        min(event_time) as session_start,
        max(event_time) as session_end,
        count(*) as event_count,
        count(*) filter (where is_page_view) as page_views,
        count(*) filter (where is_product_view) as product_views,
        count(*) filter (where is_cart_add) as cart_adds,
        count(*) filter (where is_purchase) as purchases,
        coalesce(sum(amount), 0) as revenue
    from numbered
    group by user_id, session_number

),

final as (

    select
        user_id,
        session_start,
        session_end,
        {{ seconds_between('session_start', 'session_end') }} as duration_seconds,
        event_count,
        page_views,
        product_views,
        cart_adds,
        purchases,
        revenue,
        purchases > 0 as converted
    from sessions

)

select * from final
