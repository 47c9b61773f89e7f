{#- Cross-engine Kafka plumbing: one macro per concern, dispatched per adapter. -#}

{% macro create_kafka_connection() -%}
  {{ return(adapter.dispatch('create_kafka_connection')()) }}
{%- endmacro %}

{% macro materialize__create_kafka_connection() -%}
{{ create_schema_registry_connection() }}
create connection if not exists {{ target.schema }}.kafka_connection to kafka (
    broker '{{ var("kafka_broker") }}',
    security protocol = 'PLAINTEXT'
)
{%- endmacro %}

{% macro default__create_kafka_connection() -%}
{#- RisingWave names the brokers on each source instead. -#}
select 1
{%- endmacro %}


{% macro kafka_json_source(topic) -%}
  {{ return(adapter.dispatch('kafka_json_source')(topic)) }}
{%- endmacro %}

{% macro materialize__kafka_json_source(topic) -%}
from kafka connection {{ target.schema }}.kafka_connection (topic '{{ var("topic_prefix") }}{{ topic }}')
{% if event_format() == 'avro' %}{{ avro_value_format() }}{% else %}format json{% endif %}
{%- endmacro %}

{% macro risingwave__kafka_json_source(topic) -%}
create source {{ this }} (event_id varchar)
include payload as data
with (
    connector = 'kafka',
    topic = '{{ var("topic_prefix") }}{{ topic }}',
    properties.bootstrap.server = '{{ var("kafka_broker") }}',
    scan.startup.mode = 'earliest'
) format plain encode json
{%- endmacro %}
