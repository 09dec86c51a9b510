"""``batchpipe airflow up | down | status``: Airflow standalone beside the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.stack.config import StackConfig

airflow_app = typer.Typer(
    help="Run Airflow (standalone) against the local stack.", rich_markup_mode=None
)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State folder (default .stack/, or $BATCHPIPE_STACK_DIR)"),
]


def ensure_airflow(config: StackConfig) -> AirflowStandalone:
    """Start Airflow unless it runs and is healthy; the stack's servers must be up."""
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.console import step
    from batchpipe_cli.stack.activity import ACTIVITY
    from batchpipe_cli.stack.kafka import Kafka
    from batchpipe_cli.stack.postgres import Postgres
    from batchpipe_cli.stack.process import StackError

    for server in (Postgres(config), Kafka(config)):
        if server.pid() is None or not server.healthy():
            raise StackError(f"{server.name} is not running: start it with `batchpipe stack up`")
    airflow = AirflowStandalone(config)
    with ACTIVITY.starting("airflow"):
        started = airflow.ensure_up()
        took = ACTIVITY.elapsed()
    step(f"airflow: started in {took:.0f}s" if started else "airflow: already running")
    return airflow


def print_access(airflow: AirflowStandalone) -> None:
    from batchpipe_cli.airflow.environment import ADMIN_USER
    from batchpipe_cli.console import console

    console.print(f"Airflow UI: [bold]{airflow.paths.url}[/]", highlight=False)
    console.print(f"user {ADMIN_USER!r}, password in", highlight=False)
    console.print(f"  {airflow.paths.password_file}", highlight=False, soft_wrap=True)
    console.print(f"log: {airflow.paths.log_file}", highlight=False)


@airflow_app.command()
def up(state_dir: StateDir = None) -> None:
    """Start Airflow standalone and wait until its API reports every component healthy."""
    from batchpipe_cli.console import console, fail, live_status
    from batchpipe_cli.stack.config import StackConfig
    from batchpipe_cli.stack.process import StackError

    config = StackConfig.load(state_dir)
    console.print("starting Airflow (the first start migrates its database: a few minutes)")
    try:
        with live_status():
            airflow = ensure_airflow(config)
    except StackError as exc:
        fail(str(exc))
    print_access(airflow)


@airflow_app.command()
def down(state_dir: StateDir = None) -> None:
    """Stop Airflow: its components first, then the standalone parent."""
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.console import console
    from batchpipe_cli.stack.config import StackConfig

    airflow = AirflowStandalone(StackConfig.load(state_dir))
    if airflow.pid() is None:
        console.print("airflow is not running")
        return
    airflow.stop()
    console.print("airflow stopped")


@airflow_app.command()
def status(state_dir: StateDir = None) -> None:
    """Show Airflow's pid, URL and the health of its components; exits 1 when unhealthy."""
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.console import console
    from batchpipe_cli.stack.config import StackConfig

    airflow = AirflowStandalone(StackConfig.load(state_dir))
    pid = airflow.pid()
    console.print(f"airflow pid {pid or '-'} at {airflow.paths.url}", highlight=False)
    if pid is None or not airflow.healthy():
        raise typer.Exit(1)
    for name, info in airflow.health().items():
        console.print(f"  {name}: {(info or {}).get('status')}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(airflow_app, name="airflow")
