"""``batchpipe generate bank``: the deterministic sample data set."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from batchpipe_cli.console import console
from batchpipe_cli.generate import generate_bank_file

generate_app = typer.Typer(help="Generate sample data.")


@generate_app.command()
def bank(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file")],
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Data rows")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed")] = 42,
    gzip_output: Annotated[bool, typer.Option("--gzip", help="gzip-compress the file")] = False,
) -> None:
    """Bank transactions CSV: Date, Domain, Location, Total_Amount, Transaction_count."""
    started = time.perf_counter()
    generate_bank_file(out, rows, seed, gzip_output)
    took = time.perf_counter() - started
    console.print(
        f"wrote {rows:,} rows to {out} ({out.stat().st_size:,} bytes) in {took:.1f}s",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(generate_app, name="generate")
