{#-
  RisingWave bodies of the project's dispatched macros (the materialize__ bodies, which the
  embedded engine also takes, are next to each macro's definition).
-#}

{#- Temporal filters: RisingWave compares a column expression with a non-decreasing expression
    of now(); the row leaves the view (a retraction downstream) once the condition turns false. -#}
{% macro risingwave__within_retention(column) -%}
{{ column }} >= now() - {{ retention_interval() }}
{%- endmacro %}

{% macro risingwave__past_retention(column) -%}
{{ column }} < now() - {{ retention_interval() }}
{%- endmacro %}


{% macro risingwave__seconds_between(start_column, end_column) -%}
{#- RisingWave's numeric has no precision or scale. -#}
extract(epoch from {{ end_column }} - {{ start_column }})::numeric
{%- endmacro %}


{#- RisingWave names the brokers on each source (risingwave__kafka_json_source): the
    on-run-start hook has nothing to create there. -#}
{% macro risingwave__create_kafka_connection() -%}
select 1
{%- endmacro %}


{#- The DDL dbt-risingwave sends for views and materialized views, with type modifiers of
    numeric taken out: RisingWave's numeric takes no precision or scale (a cast to
    numeric(12, 2) fails with "unsupported data type"). The models keep numeric(12, 2) for money,
    exact on Materialize; staging admits amounts with at most 2 decimals, so the values are the
    same. -#}
{% macro risingwave__create_view_as(relation, sql) -%}
{{ dbt.risingwave__create_view_as(relation, risingwave_sql(sql)) }}
{%- endmacro %}

{% macro risingwave__create_materialized_view_as(relation, sql) -%}
{{ dbt.risingwave__create_materialized_view_as(relation, risingwave_sql(sql)) }}
{%- endmacro %}

{% macro risingwave_sql(sql) -%}
{{ modules.re.sub('(?i)\\b(numeric|decimal)\\s*\\(\\s*\\d+\\s*(,\\s*\\d+\\s*)?\\)', '\\1', sql) }}
{%- endmacro %}
