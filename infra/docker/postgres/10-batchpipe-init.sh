#!/bin/sh
# batchpipe's PostgreSQL bootstrap in the postgres container: the image runs the scripts in
# /docker-entrypoint-initdb.d once, on an empty data directory. This one runs the same
# infra/postgres/init.sql as the local stack (roles batchpipe_sink, batchpipe_dbt, airflow;
# databases warehouse and airflow), with the role passwords from the environment.
set -e

init_sql="${BATCHPIPE_INIT_SQL:-/opt/batchpipe/postgres/init.sql}"
for var in PG_SINK_PASSWORD PG_DBT_PASSWORD PG_AIRFLOW_PASSWORD; do
    eval "value=\${$var:-}"
    if [ -z "$value" ]; then
        echo "batchpipe-init: $var is not set (see .env.example)" >&2
        exit 1
    fi
done
if [ ! -r "$init_sql" ]; then
    echo "batchpipe-init: $init_sql is missing (mount infra/postgres/init.sql there)" >&2
    exit 1
fi

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v sink_password="$PG_SINK_PASSWORD" \
    -v dbt_password="$PG_DBT_PASSWORD" \
    -v airflow_password="$PG_AIRFLOW_PASSWORD" \
    -f "$init_sql"
