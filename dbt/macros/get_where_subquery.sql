{% macro get_where_subquery(relation) -%}
    {#- Tests scoped to this run's rows. A test whose `where` config names the placeholder
        __run_started_at__ (e.g. `taken_at = __run_started_at__`) reads only the rows this run
        wrote; with `--vars '{test_scope: full}'` (the batchpipe_quality DAG) the same test
        reads every row. Any other `where` behaves as dbt's own. -#}
    {%- set where = config.get('where') -%}
    {%- if where and '__run_started_at__' in where -%}
        {%- if var('test_scope', 'run') == 'full' -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set where = where | replace('__run_started_at__', run_stamp()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
