{% macro run_stamp() -%}
    {#- The invocation's start time: the same value in every model of one dbt run, so rows
        written by one run can be told apart from rows written by another. -#}
    cast('{{ run_started_at }}' as timestamp with time zone)
{%- endmacro %}
