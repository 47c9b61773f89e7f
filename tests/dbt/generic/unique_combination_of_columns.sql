{#- A compound key: no two rows share the same values of `columns` (nulls included). -#}
{% test unique_combination_of_columns(model, columns) %}

with keyed as (

    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}

),

final as (

    select * from keyed where occurrences > 1

)

select * from final

{% endtest %}
