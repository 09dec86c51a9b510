{#- dbt-postgres writes every model's description and column descriptions with COMMENT ON at
    every run (persist_docs). COMMENT ON takes a SHARE UPDATE EXCLUSIVE lock, the lock
    autovacuum holds: on an incremental table autovacuum is often busy with the rows the last
    run added, so the comment waited for deadlock_timeout (1 s) and then cancelled that
    vacuum, run after run (the big staging tables were never vacuumed while runs kept
    coming). These overrides write a comment only when it differs from what the catalog
    holds: the same docs in the database, no lock on a run that changes no description. -#}

{% macro postgres__alter_relation_comment(relation, comment) %}
    {%- set relation_type = 'materialized view' if relation.type == 'materialized_view' else relation.type -%}
    {%- set escaped_comment = postgres_escape_comment(comment) -%}
    do $persist_docs$
    begin
        if obj_description('{{ relation }}'::regclass, 'pg_class')
            is distinct from {{ escaped_comment }} then
            comment on {{ relation_type }} {{ relation }} is {{ escaped_comment }};
        end if;
    end
    $persist_docs$;
{% endmacro %}

{% macro postgres__alter_column_comment(relation, column_dict) %}
    {%- set existing_columns = adapter.get_columns_in_relation(relation) | map(attribute="name") | list -%}
    do $persist_docs$
    begin
    {%- for column_name in column_dict if (column_name in existing_columns) %}
        {%- set escaped_comment = postgres_escape_comment(column_dict[column_name]['description']) %}
        {%- set quoted = adapter.quote(column_name) if column_dict[column_name]['quote'] else column_name %}
        if col_description(
            '{{ relation }}'::regclass,
            (
                select attribute.attnum from pg_attribute as attribute
                where
                    attribute.attrelid = '{{ relation }}'::regclass
                    and attribute.attname = '{{ column_name }}'
            )
        ) is distinct from {{ escaped_comment }} then
            comment on column {{ relation }}.{{ quoted }} is {{ escaped_comment }};
        end if;
    {%- endfor %}
        null;
    end
    $persist_docs$;
{% endmacro %}
