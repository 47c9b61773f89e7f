with transactions as (

    select * from {{ ref('stg_transactions') }}

),

risky_events as (

    select * from {{ ref('int_risky_events') }}

),

large_transactions as (

    select transaction_id, user_id, amount, event_time
    from transactions
    where amount >= 100.00

),

matched as (

    -- the window is [trigger, trigger + 10 minutes], both ends included
    select
        large_transactions.transaction_id,
        large_transactions.user_id,
        large_transactions.amount,
        large_transactions.event_time as transaction_time,
        risky_events.event_id as trigger_event_id,
        risky_events.reason as trigger_reason,
        risky_events.event_time as trigger_time
    from large_transactions
    inner join risky_events
        on large_transactions.user_id = risky_events.user_id
        and large_transactions.event_time >= risky_events.event_time
        and large_transactions.event_time <= risky_events.event_time + interval '10 minutes'

),

final as (

    select
        transaction_id,
        user_id,
        amount,
        transaction_time,
        trigger_event_id,
        trigger_reason,
        trigger_time,
        {{ seconds_between('trigger_time', 'transaction_time') }} as seconds_after_trigger
    from matched

)

select * from final
