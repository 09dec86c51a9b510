{% test totals_match(model, column_name, compare_model, compare_column=none, compare_where=none) %}
{#- One row when sum(column) over the model differs from sum(compare_column) over
    compare_model (optionally filtered): a rollup that lost or doubled rows. -#}
with model_total as (
    select sum({{ column_name }}) as total
    from {{ model }}
),

compare_total as (
    select sum({{ compare_column or column_name }}) as total
    from {{ compare_model }}
    {%- if compare_where %}
    where {{ compare_where }}
    {%- endif %}
)

select
    model_total.total as model_total,
    compare_total.total as compare_total,
    model_total.total - compare_total.total as difference
from model_total
cross join compare_total
where model_total.total is distinct from compare_total.total
{% endtest %}
