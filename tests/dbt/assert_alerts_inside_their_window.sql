-- Every account-takeover alert lies in [trigger, trigger + 10 minutes] with an amount of at
-- least 100.00, and every error alert is above the threshold.
with takeover as (

    select * from {{ ref('account_takeover_alerts') }}

),

errors as (

    select * from {{ ref('error_alerts') }}

),

bad_takeover as (

    select transaction_id as id
    from takeover
    where amount < 100.00
        or transaction_time < trigger_time
        or transaction_time > trigger_time + interval '10 minutes'
        or seconds_after_trigger not between 0 and 600

),

bad_errors as (

    select service as id
    from errors
    where error_count <= {{ var('error_alert_threshold') }}
        or error_count > total_count

),

final as (

    select 'account_takeover_alerts' as model, id from bad_takeover
    union all
    select 'error_alerts' as model, id from bad_errors

)

select * from final
