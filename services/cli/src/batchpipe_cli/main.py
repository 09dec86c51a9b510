"""The ``batchpipe`` command line: one sub-command module per area under ``commands/``.

Each module in ``batchpipe_cli.commands`` exposes ``register(app)``; they are found at start,
so adding an area never touches this file. Start-up stays fast (``--help`` well under 0.3 s,
``make bench`` measures it): a command module imports only typer at the top and everything
else inside its commands, and help is plain click help (``rich_markup_mode=None``: typer's
rich help alone takes longer to import than the whole budget).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated

import typer

from batchpipe_cli import commands
from batchpipe_common import __version__

app = typer.Typer(
    name="batchpipe",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"batchpipe {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """batchpipe: local file -> S3 -> Kafka -> PostgreSQL -> dbt, orchestrated by Airflow."""


for _module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
    importlib.import_module(f"{commands.__name__}.{_module}").register(app)


if __name__ == "__main__":
    app()
