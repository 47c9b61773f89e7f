{{ config(materialized='materialized_view', indexes=[{'columns': ['customer_id']}]) }}

with orders as (
    select * from {{ ref('stg_orders') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

totals as (
    select
        customers.customer_id,
        customers.customer_name,
        count(orders.order_id) as order_count,
        sum(orders.amount) as total_amount
    from customers
    left join orders on orders.customer_id = customers.customer_id
    where orders.status <> 'returned' or orders.status is null
    group by customers.customer_id, customers.customer_name
)

select * from totals
