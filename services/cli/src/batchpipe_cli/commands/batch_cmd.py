"""``batchpipe batch show|list``: the ledger's view of batches, from the sink's API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

batch_app = typer.Typer(
    name="batch",
    help="Batches as the sink's ledger sees them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def summary(view: dict[str, Any]) -> dict[str, Any]:
    """The flat summary ``ingest`` and ``batch show`` print."""
    expected = view.get("expected") or {}
    rejected = view.get("rejected") or {}
    return {
        "batch_id": view["batch_id"],
        "dataset": view.get("dataset"),
        "status": view.get("status"),
        "contract_version": view.get("contract_version"),
        "source_uri": view.get("source_uri"),
        "rows_read": expected.get("rows_read"),
        "rows_valid": expected.get("rows_valid"),
        "rows_rejected": expected.get("rows_rejected"),
        "rows_loaded": (view.get("loaded") or {}).get("rows"),
        "rejected_by_sink": rejected.get("sink"),
        "reconciles": bool(view.get("reconciles")),  # the ledger's batch_status verdict
        "loaded_at": view.get("loaded_at"),
    }


def print_summary(row: dict[str, Any]) -> None:
    from batchpipe_cli.console import console

    for key, value in row.items():
        console.print(f"{key}: {value}", highlight=False, soft_wrap=True)


@batch_app.command()
def show(
    batch_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="The ledger's view as JSON")] = False,
) -> None:
    """One batch: expected (manifest) against loaded and rejected rows, and its status."""
    import json

    from batchpipe_cli.console import console, fail
    from batchpipe_cli.service_api import ServiceClient

    view = ServiceClient("pg-sink").call("GET", f"/v1/batches/{batch_id}", allow_404=True)
    if view is None:
        fail(f"the ledger knows no batch {batch_id!r}")
    if as_json:
        console.out(json.dumps({**view, **summary(view)}, default=str), highlight=False)
    else:
        print_summary(summary(view))


@batch_app.command("list")
def list_batches(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest batches (of one dataset), newest first."""
    import json

    from rich.table import Table

    from batchpipe_cli.console import console
    from batchpipe_cli.service_api import ServiceClient

    params: dict[str, Any] = {"limit": limit}
    if dataset:
        params["dataset"] = dataset
    views = ServiceClient("pg-sink").call("GET", "/v1/batches", params=params)
    rows = [summary(v) for v in views]
    if as_json:
        console.out(json.dumps(rows, default=str), highlight=False)
        return
    if not rows:
        console.print("no batches", highlight=False)
        return
    table = Table("batch_id", "status", "read", "loaded", "rejected", "reconciles")
    for row in rows:
        table.add_row(
            row["batch_id"],
            str(row["status"]),
            str(row["rows_read"]),
            str(row["rows_loaded"]),
            str(row["rows_rejected"]),
            "yes" if row["reconciles"] else "no",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app)
