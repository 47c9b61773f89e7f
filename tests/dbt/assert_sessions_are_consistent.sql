-- Sessions of one user never overlap and are more than 30 minutes apart; each session's
-- counts add up and its revenue is zero exactly when it has no purchase.
with sessions as (

    select * from {{ ref('user_sessions') }}

),

close_pairs as (

    select earlier.user_id, later.session_start
    from sessions as earlier
    inner join sessions as later
        on earlier.user_id = later.user_id
        and later.session_start > earlier.session_start
        and later.session_start <= earlier.session_end + interval '30 minutes'

),

bad_counts as (

    select user_id, session_start
    from sessions
    where page_views + product_views + cart_adds + purchases > event_count
        or session_end < session_start
        or converted <> (purchases > 0)
        or (purchases = 0 and revenue <> 0)

),

final as (

    select * from close_pairs
    union all
    select * from bad_counts

)

select * from final
