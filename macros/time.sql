{#-
  Time functions and temporal filters, dispatched per adapter (materialize__ also serves the
  embedded engine; helper files macros/risingwave*.sql hold the risingwave__ bodies).
-#}

{% macro minute_window(column) -%}
  {{ return(adapter.dispatch('minute_window')(column)) }}
{%- endmacro %}

{% macro default__minute_window(column) -%}
date_trunc('minute', {{ column }})
{%- endmacro %}


{% macro seconds_between(start_column, end_column) -%}
  {{ return(adapter.dispatch('seconds_between')(start_column, end_column)) }}
{%- endmacro %}

{% macro default__seconds_between(start_column, end_column) -%}
extract(epoch from {{ end_column }} - {{ start_column }})::numeric(12, 3)
{%- endmacro %}


{% macro retention_interval() -%}
{#- The retention horizon of event time, from the dbt variable `retention_hours`. -#}
interval '{{ var("retention_hours") | int }} hours'
{%- endmacro %}


{% macro within_retention(column) -%}
{#- True while `column` (event time) is inside the retention horizon. A temporal filter: the
    engine retracts the row once the horizon passes it, so state stays bounded. -#}
  {{ return(adapter.dispatch('within_retention')(column)) }}
{%- endmacro %}

{% macro materialize__within_retention(column) -%}
mz_now() <= {{ column }} + {{ retention_interval() }}
{%- endmacro %}

{% macro default__within_retention(column) -%}
now() <= {{ column }} + {{ retention_interval() }}
{%- endmacro %}


{% macro past_retention(column) -%}
{#- The complement of within_retention: true once `column` is older than the horizon. -#}
  {{ return(adapter.dispatch('past_retention')(column)) }}
{%- endmacro %}

{% macro materialize__past_retention(column) -%}
mz_now() > {{ column }} + {{ retention_interval() }}
{%- endmacro %}

{% macro default__past_retention(column) -%}
now() > {{ column }} + {{ retention_interval() }}
{%- endmacro %}
