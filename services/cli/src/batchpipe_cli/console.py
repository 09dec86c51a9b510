"""Shared rich console, the way the CLI reports a failure, and its live status line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def step(message: str) -> None:
    """One indented progress line (``kafka: started in 8.1s``)."""
    console.print(f"  {message}", highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """The one line an expected failure prints (what happened, what to do); no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def live_status() -> Iterator[None]:
    """A spinner line saying which component is starting, for how long, what it waits for
    (``stack.activity.ACTIVITY``); shown on a terminal only, gone when the block ends."""
    from rich.live import Live
    from rich.spinner import Spinner

    from batchpipe_cli.stack.activity import ACTIVITY

    spinner = Spinner("dots", text="")

    def line() -> Spinner:
        spinner.update(text=ACTIVITY.describe() or "working")
        return spinner

    with Live(get_renderable=line, console=console, transient=True, refresh_per_second=4):
        yield
