"""The environment ``airflow standalone`` runs with: configuration, connections, paths.

Airflow keeps its home (``airflow.cfg``, logs, the admin password file) and Cosmos its cache in
``<state>/airflow``; its metadata lives in the stack's PostgreSQL ``airflow`` database. The
services, Kafka, the warehouse and S3 reach the DAGs as ``AIRFLOW_CONN_BATCHPIPE_*``
connections (JSON) built from the stack's own variables, never from the UI.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.envfile import stack_environment
from batchpipe_common.settings import REPO_ROOT

ADMIN_USER = "admin"
PARALLELISM = 4


@dataclass(frozen=True)
class AirflowPaths:
    config: StackConfig

    @property
    def home(self) -> Path:
        return self.config.state_dir / "airflow"

    @property
    def venv(self) -> Path:
        return Path(os.environ.get("BATCHPIPE_AIRFLOW_VENV", REPO_ROOT / ".venvs" / "airflow"))

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "airflow"

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    @property
    def log_file(self) -> Path:
        return self.config.logs_dir / "airflow.log"

    @property
    def pid_file(self) -> Path:
        return self.config.pids_dir / "airflow.pid"

    @property
    def port(self) -> int:
        return self.config.ports["airflow"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def orchestration(self) -> Path:
        return REPO_ROOT / "orchestration"


def admin_password(paths: AirflowPaths) -> str:
    """The admin's password, generated into Airflow's own password file on first use."""
    paths.home.mkdir(parents=True, exist_ok=True)
    if paths.password_file.exists():
        passwords: dict[str, str] = json.loads(paths.password_file.read_text() or "{}")
        if ADMIN_USER in passwords:
            return passwords[ADMIN_USER]
    else:
        passwords = {}
    passwords[ADMIN_USER] = secrets.token_urlsafe(18)
    paths.password_file.write_text(json.dumps(passwords) + "\n")
    paths.password_file.chmod(0o600)
    return passwords[ADMIN_USER]


def _http_conn(url: str, **fields: str) -> str:
    parts = urlsplit(url)
    return json.dumps(
        {
            "conn_type": "http",
            "host": parts.hostname,
            "port": parts.port,
            "schema": parts.scheme,
            **fields,
        }
    )


def connections(config: StackConfig, airflow_password: str, airflow_url: str) -> dict[str, str]:
    env = stack_environment(config)
    token = env["BATCHPIPE_API_TOKEN"]
    return {
        "AIRFLOW_CONN_BATCHPIPE_UPLOADER": _http_conn(
            env["BATCHPIPE_UPLOADER_URL"], password=token
        ),
        "AIRFLOW_CONN_BATCHPIPE_PRODUCER": _http_conn(
            env["BATCHPIPE_PRODUCER_URL"], password=token
        ),
        "AIRFLOW_CONN_BATCHPIPE_SINK": _http_conn(env["BATCHPIPE_SINK_URL"], password=token),
        "AIRFLOW_CONN_BATCHPIPE_AIRFLOW_API": _http_conn(
            airflow_url, login=ADMIN_USER, password=airflow_password
        ),
        "AIRFLOW_CONN_BATCHPIPE_KAFKA": json.dumps(
            {
                "conn_type": "generic",
                "extra": {
                    "bootstrap_servers": env["BATCHPIPE_KAFKA_BOOTSTRAP"],
                    "group_id": os.environ.get("BATCHPIPE_SINK_GROUP_ID", "batchpipe-pg-sink"),
                },
            }
        ),
        "AIRFLOW_CONN_BATCHPIPE_WAREHOUSE": json.dumps(
            {
                "conn_type": "postgres",
                "host": env["BATCHPIPE_DBT_HOST"],
                "port": int(env["BATCHPIPE_DBT_PORT"]),
                "login": env["BATCHPIPE_DBT_USER"],
                "password": env["BATCHPIPE_DBT_PASSWORD"],
                "schema": env["BATCHPIPE_DBT_DBNAME"],
            }
        ),
        "AIRFLOW_CONN_BATCHPIPE_S3": json.dumps(
            {
                "conn_type": "aws",
                "login": env["BATCHPIPE_S3_ACCESS_KEY_ID"],
                "password": env["BATCHPIPE_S3_SECRET_ACCESS_KEY"],
                "extra": {
                    "endpoint_url": env["BATCHPIPE_S3_ENDPOINT_URL"],
                    "region_name": env["BATCHPIPE_S3_REGION"],
                },
            }
        ),
    }


def airflow_environment(config: StackConfig) -> dict[str, str]:
    """Everything ``airflow standalone`` and its children need, on top of ``os.environ``."""
    paths = AirflowPaths(config)
    stack = stack_environment(config)
    password = admin_password(paths)
    orchestration = paths.orchestration
    settings = {
        "AIRFLOW_HOME": str(paths.home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack["BATCHPIPE_AIRFLOW_DB_DSN"],
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
        "AIRFLOW__CORE__DAGS_FOLDER": str(orchestration / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(orchestration / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.password_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{paths.url}/execution/",
        # Cosmos renders the dbt project with `dbt ls` while parsing: give it time
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__API__HOST": "127.0.0.1",
        # orchestration/src/airflow_local_settings.py: the log servers on loopback too
        "BATCHPIPE_AIRFLOW_LOOPBACK_ONLY": "1",
        "AIRFLOW__API__PORT": str(paths.port),
        "AIRFLOW__API__BASE_URL": paths.url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(paths.home / "logs"),
        # the scheduler's and triggerer's log servers: Airflow's defaults, shifted like the
        # stack's other ports so that several stacks can run side by side
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(8793 + paths.port - 8080),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(8794 + paths.port - 8080),
        "PYTHONUNBUFFERED": "1",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(paths.home / "cosmos"),
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
        "BATCHPIPE_DBT_PROJECT_DIR": str(REPO_ROOT / "dbt"),
        "PATH": f"{paths.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return {**stack, **connections(config, password, paths.url), **settings}
