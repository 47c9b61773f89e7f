{#- Temporal filters of the feature views (models/features/), dispatched per adapter. -#}

{% macro within_last(column, interval) -%}
{#- True while `column` (event time) lies within `interval` before now: a temporal filter, so
    the engine retracts the row when it ages out and windowed features stay current. -#}
  {{ return(adapter.dispatch('within_last')(column, interval)) }}
{%- endmacro %}

{% macro materialize__within_last(column, interval) -%}
mz_now() <= {{ column }} + {{ interval }}
{%- endmacro %}

{% macro default__within_last(column, interval) -%}
now() <= {{ column }} + {{ interval }}
{%- endmacro %}
