{#-
  The event contracts of shared/CONTRACTS.md, as data, and the checks derived from them.
  `malformed_reason(topic)` is null for a well-formed event and names the first broken rule
  otherwise; staging keeps the well-formed events and `stg_malformed_events` the others.
-#}

{% macro event_contract(topic) -%}
  {%- set contracts = {
      'clicks': [
          ('user_id', 'string'), ('event_type', 'string'), ('page_url', 'string'),
          ('product_id', 'string_or_null'), ('referrer', 'string_or_null'),
          ('user_agent', 'string'), ('country', 'string')],
      'cart_events': [
          ('user_id', 'string'), ('event_type', 'string'), ('product_id', 'string'),
          ('quantity', 'positive_integer'), ('unit_price', 'number')],
      'purchases': [
          ('user_id', 'string'), ('order_id', 'string'), ('amount', 'number'),
          ('currency', 'string'), ('item_count', 'positive_integer')],
      'logins': [
          ('user_id', 'string'), ('device_id', 'string'), ('ip', 'string'),
          ('country', 'string'), ('success', 'boolean')],
      'device_changes': [
          ('user_id', 'string'), ('change_type', 'string'), ('device_id', 'string_or_null')],
      'transactions': [
          ('transaction_id', 'string'), ('user_id', 'string'), ('amount', 'number'),
          ('currency', 'string'), ('merchant_id', 'string'), ('country', 'string'),
          ('device_id', 'string')],
      'app_logs': [
          ('service', 'string'), ('level', 'string'), ('message', 'string'),
          ('trace_id', 'string_or_null')],
  } -%}
  {{ return(contracts[topic]) }}
{%- endmacro %}

{% macro event_enums(topic) -%}
  {%- set enums = {
      'clicks': {'event_type': ['page_view', 'product_view']},
      'cart_events': {'event_type': ['add_to_cart', 'remove_from_cart']},
      'device_changes': {'change_type': ['device_added', 'password_reset', 'mfa_disabled']},
      'app_logs': {'level': ['DEBUG', 'INFO', 'WARN', 'ERROR']},
  } -%}
  {{ return(enums.get(topic, {})) }}
{%- endmacro %}

{% macro malformed_reason(topic, payload='data') -%}
case
    when not coalesce(jsonb_typeof({{ payload }} -> 'event_id') = 'string', false)
        then 'event_id: missing or not a string'
    when not coalesce({{ payload }} ->> 'event_time' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$', false)
        then 'event_time: missing or not RFC 3339 UTC'
{%- for field, kind in event_contract(topic) %}
  {%- if kind == 'string' %}
    when not coalesce(jsonb_typeof({{ payload }} -> '{{ field }}') = 'string', false)
        then '{{ field }}: missing or not a string'
  {%- elif kind == 'string_or_null' %}
    when not coalesce(jsonb_typeof({{ payload }} -> '{{ field }}') in ('string', 'null'), false)
        then '{{ field }}: missing or not a string or null'
  {%- elif kind == 'boolean' %}
    when not coalesce(jsonb_typeof({{ payload }} -> '{{ field }}') = 'boolean', false)
        then '{{ field }}: missing or not a boolean'
  {%- else %}
    when not coalesce(jsonb_typeof({{ payload }} -> '{{ field }}') = 'number', false)
        then '{{ field }}: missing or not a number'
  {%- endif %}
  {%- if kind == 'positive_integer' %}
    when ({{ payload }} ->> '{{ field }}')::numeric <> trunc(({{ payload }} ->> '{{ field }}')::numeric)
        or ({{ payload }} ->> '{{ field }}')::numeric < 1
        then '{{ field }}: not an integer of at least 1'
  {%- endif %}
{%- endfor %}
{%- for field, allowed in event_enums(topic).items() %}
    when {{ payload }} ->> '{{ field }}' not in ('{{ allowed | join("', '") }}')
        then '{{ field }}: not one of {{ allowed | join(", ") }}'
{%- endfor %}
end
{%- endmacro %}

{% macro deduplicate_events(relation) -%}
{#- At-least-once delivery: an event_id seen again is the same event and counts once. -#}
select distinct on (event_id) *
from {{ relation }}
order by event_id, event_time
{%- endmacro %}
