{#-
  JSON or Avro sources, chosen by the variable `event_format` ('json', the default, or 'avro';
  also from the environment variable EVENT_FORMAT). With 'avro' the sources read Confluent
  wire-format Avro through the schema registry at `schema_registry_url` (default
  http://127.0.0.1:8081/apis/ccompat/v7, or SCHEMA_REGISTRY_URL): their columns are typed
  from the registered schemas. Staging reads either through `event_payload`, which gives the
  JSON form of each event, so the contract checks, staging and the marts are the same for both.
-#}

{% macro event_format() -%}
  {%- set fmt = var('event_format', env_var('EVENT_FORMAT', 'json')) | lower -%}
  {%- if fmt not in ('json', 'avro') -%}
    {{ exceptions.raise_compiler_error("event_format must be 'json' or 'avro', not '" ~ fmt ~ "'") }}
  {%- endif -%}
  {{ return(fmt) }}
{%- endmacro %}

{% macro schema_registry_url() -%}
  {{ return(var('schema_registry_url', env_var('SCHEMA_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7'))) }}
{%- endmacro %}

{% macro create_schema_registry_connection() -%}
{#- Run from create_kafka_connection (on-run-start) when the sources read Avro. -#}
  {%- if execute and event_format() == 'avro' -%}
    {% do run_query("create connection if not exists " ~ target.schema ~ ".schema_registry_connection"
                    ~ " to confluent schema registry (url '" ~ schema_registry_url() ~ "')") %}
  {%- endif -%}
{%- endmacro %}

{% macro avro_value_format() -%}
format avro using confluent schema registry connection {{ target.schema }}.schema_registry_connection
{%- endmacro %}

{% macro event_payload(relation, topic) -%}
{#- `select data from <source>`: the event as jsonb, read as JSON or rebuilt from Avro columns
    (event_time back to RFC 3339 text with milliseconds, as the JSON events carry it). -#}
  {%- if event_format() == 'avro' -%}
select
    jsonb_build_object(
        'event_id', event_id,
        'event_time', left(to_char(event_time, 'YYYY-MM-DD"T"HH24:MI:SS.US'), 23) || 'Z'
    {%- for field, kind in event_contract(topic) %},
        '{{ field }}', {{ field }}
    {%- endfor %}
    ) as data
from {{ relation }}
  {%- else -%}
select data from {{ relation }}
  {%- endif -%}
{%- endmacro %}

{% macro event_relation(relation, topic) -%}
{#- For `from ...`: the source itself (JSON), or its events as `data jsonb` (Avro). -#}
  {%- if event_format() == 'avro' -%}
({{ event_payload(relation, topic) }}) as {{ topic }}_payload
  {%- else -%}
{{ relation }}
  {%- endif -%}
{%- endmacro %}
