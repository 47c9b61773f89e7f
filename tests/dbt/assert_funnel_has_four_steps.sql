-- The funnel always has its four steps, in order, and no step reaches more sessions than the
-- one before it.
with funnel as (

    select * from {{ ref('funnel_conversion') }}

),

step_count as (

    select count(*) as steps from funnel

),

growing_steps as (

    select later.step
    from funnel as later
    inner join funnel as earlier on later.step_order = earlier.step_order + 1
    where later.sessions > earlier.sessions

),

final as (

    select 'not four steps' as problem from step_count where steps <> 4
    union all
    select 'step grows: ' || step from growing_steps

)

select * from final
