{%- set topics = ['clicks', 'cart_events', 'purchases', 'logins', 'device_changes',
                  'transactions', 'app_logs'] -%}

with checked as (

    {% for topic in topics %}
    select
        '{{ topic }}' as topic,
        data,
        {{ malformed_reason(topic) }} as reason
    from {{ event_relation(ref('src_' ~ topic), topic) }}
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}

),

final as (

    select * from checked where reason is not null

)

select * from final
