with checked as (

    select
        'clicks' as topic,
        data,
        {{ malformed_reason('clicks') }} as reason
    from {{ ref('src_clicks') }}

    union all

    select
        'cart_events' as topic,
        data,
        {{ malformed_reason('cart_events') }} as reason
    from {{ ref('src_cart_events') }}

    union all

    select
        'purchases' as topic,
        data,
        {{ malformed_reason('purchases') }} as reason
    from {{ ref('src_purchases') }}

    union all

    select
        'logins' as topic,
        data,
        {{ malformed_reason('logins') }} as reason
    from {{ ref('src_logins') }}

    union all

    select
        'device_changes' as topic,
        data,
        {{ malformed_reason('device_changes') }} as reason
    from {{ ref('src_device_changes') }}

    union all

    select
        'transactions' as topic,
        data,
        {{ malformed_reason('transactions') }} as reason
    from {{ ref('src_transactions') }}

    union all

    select
        'app_logs' as topic,
        data,
        {{ malformed_reason('app_logs') }} as reason
    from {{ ref('src_app_logs') }}

),

final as (

    select * from checked where reason is not null

)

select * from final
