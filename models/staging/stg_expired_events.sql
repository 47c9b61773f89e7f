{#- Per topic, the well-formed messages whose event time lies past the retention horizon: they
    left (or never entered) the staging models and the marts. Counted, not silently dropped. -#}
{%- set topics = ['clicks', 'cart_events', 'purchases', 'logins', 'device_changes',
                  'transactions', 'app_logs'] -%}

with

{% for topic in topics %}
{{ topic }}_times as (

    select (data ->> 'event_time')::timestamptz as event_time
    from {{ event_relation(ref('src_' ~ topic), topic) }}
    where {{ malformed_reason(topic) }} is null

),

{{ topic }}_expired as (

    select
        '{{ topic }}' as topic,
        count(*) as expired_messages
    from {{ topic }}_times
    where {{ past_retention('event_time') }}

),

{% endfor %}
final as (

    {% for topic in topics %}
    select * from {{ topic }}_expired
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}

)

select * from final
