"""``batchpipe generate bank``: the deterministic sample data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

generate_app = typer.Typer(help="Generate sample data.", rich_markup_mode=None)


@generate_app.command()
def bank(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file")],
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Data rows")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed")] = 42,
    gzip_output: Annotated[bool, typer.Option("--gzip", help="gzip-compress the file")] = False,
) -> None:
    """Bank transactions CSV: Date, Domain, Location, Total_Amount, Transaction_count."""
    import time

    from batchpipe_cli.console import console
    from batchpipe_cli.generate import generate_bank_file

    started = time.perf_counter()
    generate_bank_file(out, rows, seed, gzip_output)
    took = time.perf_counter() - started
    console.print(
        f"wrote {rows:,} rows to {out} ({out.stat().st_size:,} bytes) in {took:.1f}s",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(generate_app, name="generate")
