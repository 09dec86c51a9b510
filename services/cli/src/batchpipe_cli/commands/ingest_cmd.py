"""``batchpipe ingest FILE --dataset NAME``: the whole load without Airflow.

Upload through the uploader service, start the s3-producer's run, follow it, then wait until
the sink's ledger says ``loaded``; print the batch's summary. Exit 1 when the run fails, the
ledger does not reach ``loaded`` in time, or the batch does not reconcile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

POLL_S = 0.5


def _follow_run(producer: Any, batch_id: str, bar: Any) -> dict[str, Any]:
    task = bar.add_task("produce", total=None)
    while True:
        run = producer.call("GET", f"/v1/runs/{batch_id}")
        progress = run["progress"]
        bar.update(task, total=progress["bytes_total"] or None, completed=progress["bytes_read"])
        if run["state"] in ("succeeded", "failed"):
            return dict(run)
        time.sleep(POLL_S)


def _wait_loaded(sink: Any, batch_id: str, bar: Any, timeout_s: float) -> dict[str, Any] | None:
    task = bar.add_task("load", total=None)
    deadline = time.monotonic() + timeout_s
    view = None
    while time.monotonic() < deadline:
        view = sink.call("GET", f"/v1/batches/{batch_id}", allow_404=True)
        if view is not None:
            expected = (view.get("expected") or {}).get("rows_valid")
            bar.update(task, total=expected, completed=view["loaded"]["rows"])
            if view["status"] == "loaded":
                return dict(view)
        time.sleep(POLL_S)
    return view


def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the producer's run has started")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for the ledger")
    ] = 600,
) -> None:
    """Load FILE end to end: upload, produce, wait until the ledger says loaded, summarize."""
    import asyncio
    import contextlib
    import io
    import json

    from rich.progress import Progress

    from batchpipe_cli.commands.batch_cmd import print_summary, summary
    from batchpipe_cli.commands.upload_cmd import upload_via_service
    from batchpipe_cli.console import console, err_console, fail
    from batchpipe_cli.service_api import ServiceClient

    producer, sink = ServiceClient("s3-producer"), ServiceClient("pg-sink")
    quiet = contextlib.redirect_stdout(io.StringIO()) if as_json else contextlib.nullcontext()
    with quiet:
        stored = asyncio.run(upload_via_service(file, dataset, file.stat().st_size))
    accepted = producer.call(
        "POST", "/v1/runs", json={"s3_uri": stored["s3_uri"], "dataset": dataset}
    )
    batch_id = accepted["batch_id"]
    if no_wait:
        out = {"batch_id": batch_id, "s3_uri": stored["s3_uri"], "state": accepted["state"]}
        console.out(json.dumps(out) if as_json else f"batch_id: {batch_id}", highlight=False)
        return
    with Progress(console=err_console, transient=as_json) as bar:
        run = _follow_run(producer, batch_id, bar)
        if run["state"] == "failed":
            fail(f"the s3-producer's run of {batch_id} failed: {run['error']}")
        view = _wait_loaded(sink, batch_id, bar, timeout)
    if view is None:
        fail(f"the sink's ledger has no batch {batch_id} after {timeout:.0f}s")
    row = summary(view)
    row["deduplicated"] = not accepted["started"]
    if as_json:
        console.out(json.dumps(row, default=str), highlight=False)
    else:
        print_summary(row)
    if view["status"] != "loaded":
        fail(f"batch {batch_id} is still {view['status']} after {timeout:.0f}s")
    if not row["reconciles"]:
        fail(f"batch {batch_id} does not reconcile: {json.dumps(view, default=str)}")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
