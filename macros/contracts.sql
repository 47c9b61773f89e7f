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
          ('user_agent', 'string'), ('country', 'country')],
      'cart_events': [
          ('user_id', 'string'), ('event_type', 'string'), ('product_id', 'string'),
          ('quantity', 'positive_integer'), ('unit_price', 'money')],
      'purchases': [
          ('user_id', 'string'), ('order_id', 'string'), ('amount', 'money'),
          ('currency', 'currency'), ('item_count', 'positive_integer')],
      'logins': [
          ('user_id', 'string'), ('device_id', 'string'), ('ip', 'string'),
          ('country', 'country'), ('success', 'boolean')],
      'device_changes': [
          ('user_id', 'string'), ('change_type', 'string'), ('device_id', 'string_or_null')],
      'transactions': [
          ('transaction_id', 'string'), ('user_id', 'string'), ('amount', 'money'),
          ('currency', 'currency'), ('merchant_id', 'string'), ('country', 'country'),
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
    when not coalesce({{ payload }} ->> 'event_time' ~ '{{ event_time_pattern() }}', false)
        then 'event_time: missing or not RFC 3339 UTC with milliseconds'
    when not {{ is_calendar_date(payload ~ " ->> 'event_time'") }}
        then 'event_time: not a calendar date'
{%- for field, kind in event_contract(topic) %}
  {%- if kind in ('string', 'country', 'currency') %}
    when not coalesce(jsonb_typeof({{ payload }} -> '{{ field }}') = 'string', false)
        then '{{ field }}: missing or not a string'
  {%- endif %}
  {%- if kind == 'country' %}
    when not {{ payload }} ->> '{{ field }}' ~ '^[A-Z]{2}$'
        then '{{ field }}: not an ISO 3166 alpha-2 code'
  {%- elif kind == 'currency' %}
    when not {{ payload }} ->> '{{ field }}' ~ '^[A-Z]{3}$'
        then '{{ field }}: not an ISO 4217 code'
  {%- elif kind in ('string', 'country', 'currency') %}
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
        or ({{ payload }} ->> '{{ field }}')::numeric not between 1 and 2147483647
        then '{{ field }}: not an integer from 1 to 2147483647'
  {%- elif kind == 'money' %}
    when ({{ payload }} ->> '{{ field }}')::numeric <> round(({{ payload }} ->> '{{ field }}')::numeric, 2)
        or abs(({{ payload }} ->> '{{ field }}')::numeric) >= 10000000000
        then '{{ field }}: not an amount with at most 2 decimals below 10^10'
  {%- endif %}
{%- endfor %}
{%- for field, allowed in event_enums(topic).items() %}
    when {{ payload }} ->> '{{ field }}' not in ('{{ allowed | join("', '") }}')
        then '{{ field }}: not one of {{ allowed | join(", ") }}'
{%- endfor %}
end
{%- endmacro %}

{% macro event_time_pattern() -%}
{#- RFC 3339 in UTC with milliseconds, with the field ranges checked (hour 24, minute 60 fail
    here); a day past the month's end, e.g. Feb 30, passes: is_calendar_date checks that. -#}
^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$
{%- endmacro %}

{% macro is_calendar_date(text) -%}
{#- For a text that matches event_time_pattern(): its year is at least 1 and its day exists in
    its month (Feb 29 only in leap years), so the cast to timestamptz cannot fail. There is no
    try_cast in Materialize, hence the arithmetic; year >= 1 and day <= 28 (most days) are
    text comparisons on such a text, which cost less per event than the casts. -#}
{%- set year = "substring(" ~ text ~ ", 1, 4)::integer" -%}
{%- set month = "substring(" ~ text ~ ", 6, 2)::integer" -%}
{%- set day = "substring(" ~ text ~ ", 9, 2)::integer" -%}
(substring({{ text }}, 1, 4) <> '0000' and (substring({{ text }}, 9, 2) <= '28' or {{ day }} <= case
    when {{ month }} = 2 and {{ year }} % 4 = 0 and ({{ year }} % 100 <> 0 or {{ year }} % 400 = 0)
        then 29
    when {{ month }} = 2 then 28
    when {{ month }} in (4, 6, 9, 11) then 30
    else 31
end))
{%- endmacro %}

{% macro deduplicate_events(relation) -%}
{#- At-least-once delivery: an event_id seen again is the same event and counts once. -#}
select distinct on (event_id) *
from {{ relation }}
order by event_id, event_time
{%- endmacro %}
