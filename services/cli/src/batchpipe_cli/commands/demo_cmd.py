"""``batchpipe demo``: the whole pipeline as one Airflow run, from a fresh stack to marts.

Starts the stack with its three services and Airflow, generates the bank sample into the
inbox, triggers ``batchpipe_ingest`` through Airflow's REST API, follows it to the end, and
prints the run's summary (rows per stage, reconciliation), two marts and the UI URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from batchpipe_cli.airflow.api import AirflowClient
    from batchpipe_cli.stack.config import StackConfig

DAG_ID = "batchpipe_ingest"
DATASET = "bank_transactions"
DAG_PARSE_TIMEOUT = 300.0


def _start_everything(config: StackConfig) -> None:
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.console import console, fail, live_status, step
    from batchpipe_cli.stack import manager
    from batchpipe_cli.stack.process import StackError
    from batchpipe_cli.stack.services import SERVICE_SPECS

    missing = [s.module for s in SERVICE_SPECS if not s.installed()]
    if missing:
        fail(f"the services are not installed in this environment: {', '.join(missing)}")
    console.rule("stack and airflow")
    try:
        with live_status():
            # Airflow needs only the servers: it starts beside the services
            manager.up(config, report=step, alongside=[AirflowStandalone(config)])
    except StackError as exc:
        fail(str(exc))


def _sample_file(config: StackConfig, rows: int) -> Path:
    import time

    from batchpipe_cli.console import console
    from batchpipe_cli.generate import generate_bank_file

    path = config.inbox_dir / DATASET / f"demo-bank-{rows}.csv"
    if path.exists():
        console.print(f"sample file {path} already there ({path.stat().st_size:,} bytes)")
        return path
    started = time.perf_counter()
    generate_bank_file(path, rows)
    console.print(
        f"generated {rows:,} rows into {path} in {time.perf_counter() - started:.1f}s",
        highlight=False,
    )
    return path


def _failed_tasks(client: AirflowClient, run_id: str) -> list[dict[str, Any]]:
    return [ti for ti in client.task_instances(DAG_ID, run_id) if ti.get("state") == "failed"]


def demo(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Rows in the sample")] = (
        1_000_000
    ),
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the run to finish")
    ] = 3600.0,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="State folder (default .stack/)")
    ] = None,
) -> None:
    """Run the whole pipeline once through Airflow and print what it did."""
    import os
    from datetime import UTC, datetime

    from batchpipe_cli.airflow.api import AirflowApiError, AirflowClient
    from batchpipe_cli.airflow.environment import ADMIN_USER, AirflowPaths, admin_password
    from batchpipe_cli.airflow.follow import follow_run, wait_for_dag
    from batchpipe_cli.airflow.report import print_mart_previews, print_summary
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.commands.airflow_cmd import print_access
    from batchpipe_cli.console import console, fail
    from batchpipe_cli.stack.config import StackConfig
    from batchpipe_cli.stack.envfile import stack_environment
    from batchpipe_cli.stack.process import StackError

    config = StackConfig.load(state_dir)
    _start_everything(config)
    console.rule("data")
    sample = _sample_file(config, rows)
    source = str(sample.relative_to(config.inbox_dir))
    url = f"http://127.0.0.1:{config.ports['airflow']}"
    console.rule(DAG_ID)
    try:
        password = admin_password(AirflowPaths(config))
        with AirflowClient(url, ADMIN_USER, password) as client:
            wait_for_dag(client, DAG_ID, DAG_PARSE_TIMEOUT)
            client.unpause(DAG_ID)
            run_id = client.trigger(
                DAG_ID,
                {"source": source, "dataset": DATASET},
                run_id=f"demo__{datetime.now(UTC):%Y%m%dT%H%M%S}",
            )
            console.print(f"triggered {url}/dags/{DAG_ID}/runs/{run_id}", highlight=False)
            run = follow_run(client, DAG_ID, run_id, timeout=timeout, console=console)
            if run["state"] != "success":
                failed = ", ".join(ti["task_id"] for ti in _failed_tasks(client, run_id))
                fail(
                    f"run {run_id} {run['state']}: failed tasks {failed}; their logs: "
                    f"{url}/dags/{DAG_ID}/runs/{run_id}"
                )
            summary = client.xcom(DAG_ID, run_id, "summary")
    except (AirflowApiError, StackError, TimeoutError) as exc:
        fail(str(exc))
    console.rule("summary")
    print_summary(console, summary)
    env = stack_environment(config)
    dsn = (
        f"postgresql://{env['BATCHPIPE_DBT_USER']}:{env['BATCHPIPE_DBT_PASSWORD']}@"
        f"{env['BATCHPIPE_DBT_HOST']}:{env['BATCHPIPE_DBT_PORT']}/{env['BATCHPIPE_DBT_DBNAME']}"
    )
    marts_schema = f"{os.environ.get('BATCHPIPE_DBT_SCHEMA', 'analytics')}_marts"
    try:
        print_mart_previews(console, dsn, schema=marts_schema, batch_id=summary["batch_id"])
    except StackError as exc:
        fail(str(exc))
    console.rule("airflow")
    console.print(f"run: {url}/dags/{DAG_ID}/runs/{run_id}", highlight=False)
    print_access(AirflowStandalone(config))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
