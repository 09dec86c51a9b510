"""``make compose-demo``: the whole pipeline once in the Docker stack, through Airflow's API.

Runs inside the stack, in the ``demo`` container (``docker compose run --rm demo``), so the
host needs nothing but Docker:

1. generates the bank sample (``--rows``, default 1,000,000) into the inbox volume the
   uploader and Airflow read (``/data/inbox``);
2. waits until Airflow has parsed ``batchpipe_ingest``, unpauses it and triggers a run with
   ``source`` = the file's path under the inbox, through ``POST /api/v2/dags/.../dagRuns``;
3. follows the run to its end, then prints its summary (rows per stage, reconciliation) and
   two marts read from the warehouse as dbt's role.

Its settings are ``BATCHPIPE_*`` variables with the passwords in secret files
(``batchpipe_common.settings``). Exits non-zero, naming the failed tasks, when the run fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from batchpipe_cli.airflow.api import AirflowApiError, AirflowClient
from batchpipe_cli.airflow.follow import follow_run, wait_for_dag
from batchpipe_cli.airflow.report import print_mart_previews, print_summary
from batchpipe_cli.console import console
from batchpipe_cli.generate import generate_bank_file
from batchpipe_cli.stack.process import StackError
from batchpipe_common.settings import SettingsError, load_settings, settings_config, with_password

DAG_ID = "batchpipe_ingest"
DATASET = "bank_transactions"
DAG_PARSE_TIMEOUT = 600.0


class ComposeDemoSettings(BaseSettings):
    """Where the demo client finds Airflow, the warehouse and the inbox, in the stack."""

    model_config = settings_config()

    airflow_url: str = "http://airflow-api-server:8080"
    airflow_ui_url: str = Field(default="http://localhost:8080", description="as the host sees it")
    airflow_username: str = "admin"
    airflow_password: SecretStr
    warehouse_dsn: str = Field(description="dbt's role on the warehouse, without the password")
    warehouse_password: SecretStr
    inbox_dir: Path = Path("/data/inbox")


def sample_file(inbox: Path, rows: int) -> Path:
    """The demo file under the inbox, generated once; readable by the containers' users."""
    path = inbox / DATASET / f"demo-bank-{rows}.csv"
    if not path.exists():
        generate_bank_file(path, rows)
        console.print(f"generated {rows:,} rows into {path}", highlight=False)
    for folder in (inbox, path.parent):
        folder.chmod(0o755)
    path.chmod(0o644)
    return path


def run_demo(settings: ComposeDemoSettings, rows: int, timeout: float) -> int:
    sample = sample_file(settings.inbox_dir, rows)
    url = settings.airflow_url
    password = settings.airflow_password.get_secret_value()
    with AirflowClient(url, settings.airflow_username, password) as client:
        wait_for_dag(client, DAG_ID, DAG_PARSE_TIMEOUT)
        client.unpause(DAG_ID)
        run_id = client.trigger(
            DAG_ID,
            {"source": str(sample.relative_to(settings.inbox_dir)), "dataset": DATASET},
            run_id=f"compose_demo__{datetime.now(UTC):%Y%m%dT%H%M%S}",
        )
        run_url = f"{settings.airflow_ui_url}/dags/{DAG_ID}/runs/{run_id}"
        console.print(f"triggered {run_url}", highlight=False)
        run = follow_run(client, DAG_ID, run_id, timeout=timeout, console=console)
        if run["state"] != "success":
            failed = [
                ti["task_id"]
                for ti in client.task_instances(DAG_ID, run_id)
                if ti.get("state") in {"failed", "upstream_failed"}
            ]
            console.print(
                f"run {run_id} {run['state']}: failed tasks {', '.join(failed)}; "
                f"logs: docker compose logs airflow-scheduler, or {run_url}",
                style="red",
                highlight=False,
                soft_wrap=True,
            )
            return 1
        summary: dict[str, Any] = client.xcom(DAG_ID, run_id, "summary")
    print_summary(console, summary)
    dsn = with_password(settings.warehouse_dsn, settings.warehouse_password.get_secret_value())
    marts_schema = f"{os.environ.get('BATCHPIPE_DBT_SCHEMA', 'analytics')}_marts"
    print_mart_previews(console, dsn, schema=marts_schema, batch_id=summary["batch_id"])
    console.print(
        f"Airflow UI: {settings.airflow_ui_url} (user {settings.airflow_username}, "
        "password in .env)",
        highlight=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the sample file")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the run")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(ComposeDemoSettings)
        return run_demo(settings, args.rows, args.timeout)
    except (AirflowApiError, StackError, TimeoutError, SettingsError) as exc:
        console.print(f"compose-demo: {exc}", style="red", highlight=False, soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
