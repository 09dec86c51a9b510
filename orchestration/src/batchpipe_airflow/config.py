"""Where the DAGs find things: connection ids, the dbt project and executable, the inbox.

Everything has a default that fits the source checkout and the local stack, and an
environment variable to move it (the container image sets them).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]

UPLOADER_CONN_ID = "batchpipe_uploader"
PRODUCER_CONN_ID = "batchpipe_producer"
SINK_CONN_ID = "batchpipe_sink"
KAFKA_CONN_ID = "batchpipe_kafka"
WAREHOUSE_CONN_ID = "batchpipe_warehouse"
AIRFLOW_API_CONN_ID = "batchpipe_airflow_api"
S3_CONN_ID = "batchpipe_s3"

INGEST_DAG_ID = "batchpipe_ingest"
INBOX_DAG_ID = "batchpipe_inbox"
QUALITY_DAG_ID = "batchpipe_quality"


def _path(var: str, default: Path) -> Path:
    return Path(os.environ.get(var) or default)


def dbt_project_dir() -> Path:
    return _path("BATCHPIPE_DBT_PROJECT_DIR", REPO_ROOT / "dbt")


def dbt_executable() -> Path:
    return _path("BATCHPIPE_DBT_EXECUTABLE", REPO_ROOT / ".venvs" / "dbt" / "bin" / "dbt")


def contracts_dir() -> Path:
    return _path("BATCHPIPE_CONTRACTS_DIR", REPO_ROOT / "contracts")


def inbox_dir() -> Path:
    return _path("BATCHPIPE_INBOX_DIR", REPO_ROOT / ".stack" / "inbox")


def inbox_s3_prefix() -> str:
    """``s3://bucket/prefix/`` scanned by ``batchpipe_inbox`` (empty: no S3 scan)."""
    return os.environ.get("BATCHPIPE_INBOX_S3_PREFIX", "")


def datasets() -> list[str]:
    """The dataset names with a contract (``contracts/<name>.yaml``)."""
    return sorted(p.stem for p in contracts_dir().glob("*.yaml"))


def raw_source(dataset: str) -> str:
    """dbt's name of the dataset's raw table, ``<schema>.<table>`` (the contract's raw_table)."""
    contract = yaml.safe_load((contracts_dir() / f"{dataset}.yaml").read_text(encoding="utf-8"))
    return str(contract["raw_table"])
