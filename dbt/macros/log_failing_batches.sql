{% macro log_failing_batches(query, verdict, fields) -%}
    {#- While a test runs (build or test), log each batch its query returns, by id:
        `batch <id> <verdict>: label=value ...` for fields [(label, column), ...], so the
        output names the batch, not only how many rows failed. At most 50 batches. -#}
    {%- if execute and flags.WHICH in ('build', 'test') -%}
        {%- for batch in run_query(query ~ '\norder by batch_id\nlimit 50').rows -%}
            {%- set values = [] -%}
            {%- for label, column in fields -%}
                {%- do values.append(label ~ '=' ~ batch[column]) -%}
            {%- endfor -%}
            {%- do log('batch ' ~ batch['batch_id'] ~ ' ' ~ verdict ~ ': ' ~ values | join(' '), info=true) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
