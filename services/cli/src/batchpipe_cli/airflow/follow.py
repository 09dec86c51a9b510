"""Following a DAG run to its end with a rich progress display.

Polls the run and its task instances through the REST API: one bar counts finished tasks,
a line names the running ones. Returns the final run (``success`` or ``failed``) or raises
``TimeoutError`` when the run is still going at the deadline.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from batchpipe_cli.airflow.api import AirflowClient
from batchpipe_cli.stack.process import StackError, wait_until

FINISHED_RUN = {"success", "failed"}
FINISHED_TASK = {"success", "failed", "skipped", "upstream_failed", "removed"}
POLL_SECONDS = 2.0


def describe_active(task_instances: list[dict[str, Any]]) -> str:
    active = [
        f"{ti['task_id']} ({ti['state']})"
        for ti in task_instances
        if ti.get("state") in {"running", "deferred", "up_for_reschedule", "queued", "scheduled"}
    ]
    return ", ".join(active[:4]) + (" ..." if len(active) > 4 else "") or "waiting"


def follow_run(
    client: AirflowClient, dag_id: str, run_id: str, *, timeout: float, console: Console
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[active]}"),
        console=console,
    ) as progress:
        bar = progress.add_task(dag_id, total=None, active="queued")
        while True:
            run = client.run(dag_id, run_id)
            tis = client.task_instances(dag_id, run_id)
            done = sum(1 for ti in tis if ti.get("state") in FINISHED_TASK)
            progress.update(
                bar, total=len(tis) or None, completed=done, active=describe_active(tis)
            )
            if run.get("state") in FINISHED_RUN:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run_id} of {dag_id} still {run.get('state')} after {timeout:.0f}s"
                )
            time.sleep(POLL_SECONDS)  # the interval between two status polls of the run


def wait_for_dag(client: AirflowClient, dag_id: str, timeout: float) -> None:
    """Until Airflow has parsed ``dag_id``; an import error of its file fails at once."""

    def parsed() -> bool:
        if client.dag(dag_id) is not None:
            return True
        for error in client.import_errors():
            if dag_id in str(error.get("filename", "")):
                raise StackError(f"{dag_id} does not import:\n{error.get('stack_trace')}")
        return False

    wait_until(parsed, timeout=timeout, what=f"Airflow to parse {dag_id}")
