with sessions as (

    select * from {{ ref('user_sessions') }}

),

step_counts as (

    -- one row even without sessions: the funnel always has its four steps
    select
        count(*) filter (where page_views + product_views > 0) as visit,
        count(*) filter (where product_views > 0) as product_view,
        count(*) filter (where product_views > 0 and cart_adds > 0) as add_to_cart,
        count(*) filter (
            where product_views > 0 and cart_adds > 0 and purchases > 0
        ) as purchase
    from sessions

),

steps as (

    select 1 as step_order, 'visit' as step, visit as sessions,
        null::bigint as previous_sessions, visit as start_sessions
    from step_counts
    union all
    select 2, 'product_view', product_view, visit, visit from step_counts
    union all
    select 3, 'add_to_cart', add_to_cart, product_view, visit from step_counts
    union all
    select 4, 'purchase', purchase, add_to_cart, visit from step_counts

),

ratios as (

    select
        step_order,
        step,
        sessions,
        sessions::double precision / nullif(previous_sessions, 0) as conversion_from_previous,
        sessions::double precision / nullif(start_sessions, 0) as conversion_from_start
    from steps

),

final as (

    select
        step_order,
        step,
        sessions,
        conversion_from_previous,
        conversion_from_start,
        1 - conversion_from_previous as drop_off
    from ratios

)

select * from final
