{% test group_sum_equals(model, column_name, group_by, expected=1, tolerance=0.00001) %}
{#- Groups whose sum(column) is not within tolerance of the expected value. -#}
select
    {{ group_by | join(', ') }},
    sum({{ column_name }}) as group_sum
from {{ model }}
group by {{ group_by | join(', ') }}
having abs(sum({{ column_name }}) - {{ expected }}) > {{ tolerance }}
{% endtest %}
