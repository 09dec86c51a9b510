{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- dbt's default: <target schema>_<folder schema>. Kept explicit so every schema this
        project creates starts with the target schema (the test suite drops them by prefix). -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
