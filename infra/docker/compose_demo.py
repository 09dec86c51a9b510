"""``make compose-demo``: the whole pipeline once in the Docker stack, through Airflow's API.

Run after ``make up`` (every container healthy), with the workspace's Python (it uses the
``batchpipe`` CLI's sample generator and Airflow client):

1. generates the bank sample (``--rows``, default 1,000,000) into the inbox folder compose
   mounts into the uploader and Airflow (``BATCHPIPE_INBOX_HOST_DIR``, ``./data/inbox``);
2. waits until Airflow has parsed ``batchpipe_ingest``, unpauses it and triggers a run with
   ``source`` = the file's path under the inbox, through ``POST /api/v2/dags/.../dagRuns``;
3. follows the run to its end, then prints its summary (rows per stage, reconciliation) and
   two marts read from PostgreSQL's published port, and the UI's address and login.

Exits non-zero, naming the failed tasks, when the run fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchpipe_cli.airflow.api import AirflowApiError, AirflowClient
from batchpipe_cli.airflow.follow import follow_run, wait_for_dag
from batchpipe_cli.airflow.report import print_mart_previews, print_summary
from batchpipe_cli.console import console
from batchpipe_cli.generate import generate_bank_file
from batchpipe_cli.stack.envfile import read_env_file
from batchpipe_cli.stack.process import StackError
from batchpipe_common.settings import REPO_ROOT

DAG_ID = "batchpipe_ingest"
DATASET = "bank_transactions"
DAG_PARSE_TIMEOUT = 600.0


def compose_env(env_file: Path) -> dict[str, str]:
    if not env_file.exists():
        raise SystemExit(f"{env_file} does not exist: run `make up` first")
    return read_env_file(str(env_file))


def inbox_dir(env: dict[str, str]) -> Path:
    """The host folder compose mounts at /data/inbox (relative paths: to the checkout)."""
    folder = Path(env.get("BATCHPIPE_INBOX_HOST_DIR") or "./data/inbox")
    return folder if folder.is_absolute() else (REPO_ROOT / folder).resolve()


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


def run_demo(env: dict[str, str], rows: int, timeout: float) -> int:
    inbox = inbox_dir(env)
    sample = sample_file(inbox, rows)
    url = f"http://127.0.0.1:{env.get('AIRFLOW_HOST_PORT') or 8080}"
    username = env.get("AIRFLOW_ADMIN_USERNAME") or "admin"
    with AirflowClient(url, username, env["AIRFLOW_ADMIN_PASSWORD"]) as client:
        wait_for_dag(client, DAG_ID, DAG_PARSE_TIMEOUT)
        client.unpause(DAG_ID)
        run_id = client.trigger(
            DAG_ID,
            {"source": str(sample.relative_to(inbox)), "dataset": DATASET},
            run_id=f"compose_demo__{datetime.now(UTC):%Y%m%dT%H%M%S}",
        )
        console.print(f"triggered {url}/dags/{DAG_ID}/runs/{run_id}", highlight=False)
        run = follow_run(client, DAG_ID, run_id, timeout=timeout, console=console)
        if run["state"] != "success":
            failed = [
                ti["task_id"]
                for ti in client.task_instances(DAG_ID, run_id)
                if ti.get("state") in {"failed", "upstream_failed"}
            ]
            console.print(
                f"run {run_id} {run['state']}: failed tasks {', '.join(failed)}; "
                f"logs: docker compose logs airflow-scheduler, or the UI at {url}",
                style="red",
                highlight=False,
            )
            return 1
        summary: dict[str, Any] = client.xcom(DAG_ID, run_id, "summary")
    print_summary(console, summary)
    dsn = (
        f"postgresql://batchpipe_dbt:{env['PG_DBT_PASSWORD']}@127.0.0.1:"
        f"{env.get('POSTGRES_HOST_PORT') or 15432}/warehouse"
    )
    marts_schema = f"{os.environ.get('BATCHPIPE_DBT_SCHEMA', 'analytics')}_marts"
    print_mart_previews(console, dsn, schema=marts_schema, batch_id=summary["batch_id"])
    console.print(f"Airflow UI: {url} (user {username}, password in .env)", highlight=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the sample file")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the run")
    parser.add_argument("--env-file", type=Path, default=REPO_ROOT / ".env")
    args = parser.parse_args()
    try:
        return run_demo(compose_env(args.env_file), args.rows, args.timeout)
    except (AirflowApiError, StackError, TimeoutError) as exc:
        console.print(f"compose-demo: {exc}", style="red", highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
