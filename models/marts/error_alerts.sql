with app_logs as (

    select * from {{ ref('stg_app_logs') }}

),

classified as (

    select
        {{ minute_window('event_time') }} as window_start,
        service,
        level = 'ERROR' or message ilike '%exception%' as is_error
    from app_logs

),

alerting_windows as (

    select
        window_start,
        service,
        count(*) filter (where is_error) as error_count,
        count(*) as total_count
    from classified
    group by window_start, service
    having count(*) filter (where is_error) > {{ var('error_alert_threshold') }}

),

final as (

    select
        window_start,
        service,
        error_count,
        total_count,
        error_count::double precision / total_count as error_rate
    from alerting_windows

)

select * from final
