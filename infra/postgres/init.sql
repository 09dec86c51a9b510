-- batchpipe's PostgreSQL bootstrap: roles and databases. Used by the local stack
-- (`batchpipe stack up`, through psql) and by the postgres container's init script.
-- Variables (psql -v): sink_password, dbt_password, airflow_password.

-- batchpipe_sink: the pg-sink; owns and writes only the raw and batchpipe schemas.
CREATE ROLE batchpipe_sink LOGIN PASSWORD :'sink_password';
-- batchpipe_dbt: dbt; reads raw and batchpipe, builds its own schemas.
CREATE ROLE batchpipe_dbt LOGIN PASSWORD :'dbt_password';
-- airflow: Airflow's metadata database owner.
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';

CREATE DATABASE warehouse;
CREATE DATABASE airflow OWNER airflow;

\connect warehouse
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE warehouse TO batchpipe_sink, batchpipe_dbt;
GRANT CREATE ON DATABASE warehouse TO batchpipe_dbt;

CREATE SCHEMA raw AUTHORIZATION batchpipe_sink;
CREATE SCHEMA batchpipe AUTHORIZATION batchpipe_sink;
GRANT USAGE ON SCHEMA raw, batchpipe TO batchpipe_dbt;
ALTER DEFAULT PRIVILEGES FOR ROLE batchpipe_sink IN SCHEMA raw
    GRANT SELECT ON TABLES TO batchpipe_dbt;
ALTER DEFAULT PRIVILEGES FOR ROLE batchpipe_sink IN SCHEMA batchpipe
    GRANT SELECT ON TABLES TO batchpipe_dbt;
