"""The ``BATCHPIPE_*`` variables that point services, tests, dbt and Airflow at the stack."""

from __future__ import annotations

import shlex

from batchpipe_cli.stack.config import StackConfig, contracts_dir


def stack_environment(config: StackConfig) -> dict[str, str]:
    p, s = config.ports, config.secrets
    pg = f"127.0.0.1:{p['postgres']}"
    return {
        "BATCHPIPE_STACK_DIR": str(config.state_dir),
        "BATCHPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{p['kafka']}",
        "BATCHPIPE_PG_DSN": f"postgresql://batchpipe_sink:{s.pg_sink_password}@{pg}/warehouse",
        "BATCHPIPE_PG_ADMIN_DSN": (
            f"postgresql://postgres:{s.pg_superuser_password}@{pg}/warehouse"
        ),
        "BATCHPIPE_DBT_HOST": "127.0.0.1",
        "BATCHPIPE_DBT_PORT": str(p["postgres"]),
        "BATCHPIPE_DBT_USER": "batchpipe_dbt",
        "BATCHPIPE_DBT_PASSWORD": s.pg_dbt_password,
        "BATCHPIPE_DBT_DBNAME": "warehouse",
        "BATCHPIPE_AIRFLOW_DB_DSN": (
            f"postgresql+psycopg2://airflow:{s.pg_airflow_password}@{pg}/airflow"
        ),
        "BATCHPIPE_S3_ENDPOINT_URL": f"http://127.0.0.1:{p['s3']}",
        "BATCHPIPE_S3_BUCKET": config.bucket,
        "BATCHPIPE_S3_REGION": "us-east-1",
        "BATCHPIPE_S3_ACCESS_KEY_ID": s.s3_access_key_id,
        "BATCHPIPE_S3_SECRET_ACCESS_KEY": s.s3_secret_access_key,
        "BATCHPIPE_CONTRACTS_DIR": str(contracts_dir()),
        "BATCHPIPE_MANIFESTS_TOPIC": config.manifests_topic,
        "BATCHPIPE_DATA_TOPIC_PARTITIONS": str(config.data_partitions),
        "BATCHPIPE_DLQ_TOPIC_PARTITIONS": str(config.dlq_partitions),
        "BATCHPIPE_INBOX_DIR": str(config.inbox_dir),
        "BATCHPIPE_API_TOKEN": s.api_token,
        "BATCHPIPE_UPLOADER_URL": f"http://127.0.0.1:{p['uploader']}",
        "BATCHPIPE_PRODUCER_URL": f"http://127.0.0.1:{p['s3_producer']}",
        "BATCHPIPE_SINK_URL": f"http://127.0.0.1:{p['pg_sink']}",
        "BATCHPIPE_AIRFLOW_URL": f"http://127.0.0.1:{p['airflow']}",
    }


def write_env_file(config: StackConfig) -> None:
    env = stack_environment(config)
    text = "# written by `batchpipe stack up`; `set -a; . .stack/env; set +a` to use\n"
    text += "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items())
    config.env_file.write_text(text)
    config.env_file.chmod(0o600)


def read_env_file(path: str) -> dict[str, str]:
    env = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                parts = shlex.split(value)
                env[key] = parts[0] if parts else ""
    return env
