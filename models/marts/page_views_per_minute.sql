with clicks as (

    select * from {{ ref('stg_clicks') }}

),

windowed as (

    select
        {{ minute_window('event_time') }} as window_start,
        page_url,
        user_id
    from clicks

),

final as (

    select
        window_start,
        page_url,
        count(*) as views,
        count(distinct user_id) as unique_users
    from windowed
    group by window_start, page_url

)

select * from final
