{#-
  Per user: the transactions of the last 10 minutes and of the last 24 hours (temporal
  filters), the amount's running average and standard deviation, distinct merchants and
  countries. Read by the fraud scorer (app/scoring/) with one indexed read per batch.
-#}
with transactions as (

    select * from {{ ref('stg_transactions') }}

),

last_day as (

    select
        user_id,
        count(*) as tx_count_24h,
        sum(amount) as tx_sum_24h,
        sum(amount * amount) as tx_sum_squares_24h,
        count(distinct merchant_id) as distinct_merchants_24h,
        count(distinct country) as distinct_countries_24h,
        max(event_time) as last_transaction_time
    from transactions
    where {{ within_last('event_time', "interval '24 hours'") }}
    group by user_id

),

last_ten_minutes as (

    select
        user_id,
        count(*) as tx_count_10m,
        sum(amount) as tx_sum_10m
    from transactions
    where {{ within_last('event_time', "interval '10 minutes'") }}
    group by user_id

),

final as (

    select
        last_day.user_id,
        coalesce(last_ten_minutes.tx_count_10m, 0) as tx_count_10m,
        coalesce(last_ten_minutes.tx_sum_10m, 0)::numeric(14, 2) as tx_sum_10m,
        last_day.tx_count_24h,
        last_day.tx_sum_24h::numeric(14, 2) as tx_sum_24h,
        (last_day.tx_sum_24h / last_day.tx_count_24h)::double precision as amount_avg,
        case
            when last_day.tx_count_24h > 1
                then sqrt(greatest(0, (
                    last_day.tx_sum_squares_24h
                    - last_day.tx_sum_24h * last_day.tx_sum_24h / last_day.tx_count_24h
                )::double precision / (last_day.tx_count_24h - 1)))
        end as amount_stddev,
        last_day.distinct_merchants_24h,
        last_day.distinct_countries_24h,
        last_day.last_transaction_time
    from last_day
    left join last_ten_minutes
        on last_day.user_id = last_ten_minutes.user_id

)

select * from final
