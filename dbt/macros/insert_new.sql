{% macro get_incremental_insert_new_sql(arg_dict) -%}
    {#- Incremental strategy `insert_new`: insert the new rows, skipping every row whose
        unique_key the target already holds.

        Tried as a plain INSERT first: the unique index checks each row on the way in (one
        probe). Only if a new row's key is already held (unique_violation) is that insert
        rolled back and the rows inserted again with ON CONFLICT DO NOTHING, which skips the
        held ones. ON CONFLICT alone would probe the index twice for every row (its pre-check,
        then the insert), a third of the insert's time with the whole history in the index;
        overlaps between batches are the exception, so the common case pays one probe. Either
        way the check is per new row, whatever the target's size: the planner is never
        tempted to scan the history for an anti-join. -#}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    do $insert_new$
    begin
        insert into {{ arg_dict['target_relation'] }} ({{ columns }})
        select {{ columns }}
        from {{ arg_dict['temp_relation'] }};
    exception when unique_violation then
        insert into {{ arg_dict['target_relation'] }} ({{ columns }})
        select {{ columns }}
        from {{ arg_dict['temp_relation'] }}
        on conflict ({{ arg_dict['unique_key'] }}) do nothing;
    end
    $insert_new$
{%- endmacro %}
