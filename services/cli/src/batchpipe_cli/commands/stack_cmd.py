"""``batchpipe stack up | down | status | logs | scale | env``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from batchpipe_cli.stack.component import ComponentStatus
    from batchpipe_cli.stack.config import S3Backend, StackConfig

stack_app = typer.Typer(
    help="Run the local stack: PostgreSQL, Kafka, S3 API server, services.",
    rich_markup_mode=None,
)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State folder (default .stack/, or $BATCHPIPE_STACK_DIR)"),
]


def _config(state_dir: Path | None) -> StackConfig:
    from batchpipe_cli.stack.config import StackConfig

    return StackConfig.load(state_dir)


def _print_table(rows: list[ComponentStatus]) -> None:
    from rich.table import Table

    from batchpipe_cli.console import console

    table = Table(title="batchpipe stack")
    for col in ("component", "pid", "endpoint", "healthy"):
        table.add_column(col)
    for row in rows:
        healthy = "[green]yes[/]" if row.healthy else "[red]no[/]"
        table.add_row(row.component, str(row.pid or "-"), row.endpoint, healthy)
    console.print(table)


@stack_app.command()
def up(
    state_dir: StateDir = None,
    s3: Annotated[
        str | None, typer.Option("--s3", help="S3 API server: seaweedfs (default) or moto")
    ] = None,
    sink_replicas: Annotated[
        int | None, typer.Option("--sink-replicas", min=1, help="pg-sink replicas to run")
    ] = None,
    no_services: Annotated[
        bool, typer.Option("--no-services", help="Start only the servers")
    ] = False,
) -> None:
    """Start what is not running and wait until every part is ready (idempotent)."""
    from batchpipe_cli.console import console, fail, live_status, step
    from batchpipe_cli.stack import manager
    from batchpipe_cli.stack.envfile import stack_environment
    from batchpipe_cli.stack.process import StackError

    config = _config(state_dir)
    if s3 not in (None, "moto", "seaweedfs"):
        fail(f"--s3 must be moto or seaweedfs, not {s3!r}")
    backend: S3Backend | None = s3  # type: ignore[assignment]
    try:
        with live_status():
            rows = manager.up(
                config,
                report=step,
                s3_backend=backend,
                sink_replicas=sink_replicas,
                with_services=not no_services,
            )
    except StackError as exc:
        fail(str(exc))
    _print_table(rows)
    console.print(f"environment written to [bold]{config.env_file}[/]:")
    for key, value in stack_environment(config).items():
        shown = "***" if any(w in key for w in ("PASSWORD", "SECRET", "TOKEN", "DSN")) else value
        console.print(f"  {key}={shown}", highlight=False)
    console.print(f"use it with: set -a; . {config.env_file}; set +a", highlight=False)


@stack_app.command()
def down(
    state_dir: StateDir = None,
    wipe: Annotated[bool, typer.Option("--wipe", help="Delete the state folder too")] = False,
) -> None:
    """Stop the processes this stack started (by recorded pid), Airflow first if it runs."""
    from batchpipe_cli.airflow.standalone import AirflowStandalone
    from batchpipe_cli.console import console, fail, step
    from batchpipe_cli.stack import manager
    from batchpipe_cli.stack.process import StackError

    config = _config(state_dir)
    airflow = AirflowStandalone(config)
    if airflow.pid() is not None:
        # Airflow's metadata lives in the stack's PostgreSQL: stop it before its database
        step("airflow: stopping")
        airflow.stop()
    try:
        manager.down(config, report=step, wipe=wipe)
    except StackError as exc:
        fail(str(exc))
    console.print("stack stopped")


@stack_app.command()
def status(
    state_dir: StateDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Show every component; exits 1 when one is unhealthy."""
    import json

    from batchpipe_cli.stack import manager

    config = _config(state_dir)
    rows = manager.status(config)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        _print_table(rows)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@stack_app.command()
def scale(
    replicas: Annotated[int, typer.Argument(min=1, help="Number of pg-sink replicas")],
    state_dir: StateDir = None,
) -> None:
    """Run exactly N pg-sink replicas (one consumer group; Kafka rebalances the partitions)."""
    from batchpipe_cli.console import fail, live_status, step
    from batchpipe_cli.stack import manager
    from batchpipe_cli.stack.process import StackError

    config = _config(state_dir)
    try:
        with live_status():
            rows = manager.scale_sink(config, replicas, report=step)
    except StackError as exc:
        fail(str(exc))
    _print_table(rows)


@stack_app.command()
def logs(
    name: Annotated[str | None, typer.Argument(help="Component; all when omitted")] = None,
    lines: Annotated[int, typer.Option("-n", help="Lines from the end")] = 40,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
    state_dir: StateDir = None,
) -> None:
    """Print (or follow) a component's log."""
    import subprocess

    from batchpipe_cli.console import console, fail

    config = _config(state_dir)
    files = {p.stem: p for p in sorted(config.logs_dir.glob("*.log"))}
    pg_log = config.state_dir / "postgres" / "postgres.log"
    if pg_log.exists():
        files["postgres"] = pg_log
    if name is not None:
        if name not in files:
            fail(f"no log named {name!r}; known: {', '.join(sorted(files)) or 'none'}")
        files = {name: files[name]}
    if follow:
        subprocess.run(["tail", "-n", str(lines), "-F", *map(str, files.values())], check=False)
        return
    for label, path in files.items():
        console.rule(label)
        text = path.read_text(errors="replace").splitlines()[-lines:]
        console.print("\n".join(text), highlight=False, markup=False)


@stack_app.command("env")
def env_cmd(state_dir: StateDir = None) -> None:
    """Print the BATCHPIPE_* variables (for `eval "$(batchpipe stack env)"`)."""
    from batchpipe_cli.stack.envfile import stack_environment

    for key, value in stack_environment(_config(state_dir)).items():
        typer.echo(f"export {key}='{value}'")


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
