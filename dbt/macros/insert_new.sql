{% macro get_incremental_insert_new_sql(arg_dict) -%}
    {#- Incremental strategy `insert_new`: insert the new rows, skipping every row whose
        unique_key the target already holds (INSERT ... ON CONFLICT DO NOTHING on the
        target's unique index). The check is one index probe per new row, whatever the
        target's size; the planner is never tempted to scan the history for an anti-join. -#}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
    on conflict ({{ arg_dict['unique_key'] }}) do nothing
{%- endmacro %}
