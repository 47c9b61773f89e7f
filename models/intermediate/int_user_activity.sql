with clicks as (

    select * from {{ ref('stg_clicks') }}

),

cart_events as (

    select * from {{ ref('stg_cart_events') }}

),

purchases as (

    select * from {{ ref('stg_purchases') }}

),

click_activity as (

    select
        'clicks' as topic,
        event_id,
        user_id,
        event_time,
        true as is_click,
        event_type = 'page_view' as is_page_view,
        event_type = 'product_view' as is_product_view,
        false as is_cart_add,
        false as is_purchase,
        null::numeric(12, 2) as amount
    from clicks

),

cart_activity as (

    select
        'cart_events' as topic,
        event_id,
        user_id,
        event_time,
        false as is_click,
        false as is_page_view,
        false as is_product_view,
        event_type = 'add_to_cart' as is_cart_add,
        false as is_purchase,
        null::numeric(12, 2) as amount
    from cart_events

),

purchase_activity as (

    select
        'purchases' as topic,
        event_id,
        user_id,
        event_time,
        false as is_click,
        false as is_page_view,
        false as is_product_view,
        false as is_cart_add,
        true as is_purchase,
        amount
    from purchases

),

final as (

    select * from click_activity
    union all
    select * from cart_activity
    union all
    select * from purchase_activity

)

select * from final
