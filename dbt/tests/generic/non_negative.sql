{% test non_negative(model, column_name) %}
{#- Rows where the column is below zero (nulls are not_null's business). -#}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
