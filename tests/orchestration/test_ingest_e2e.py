"""``batchpipe_ingest`` end to end, through Airflow's REST API, against the local stack.

Needs the stack with its three services (``batchpipe stack up``) and the dbt virtualenv.
Airflow is started with ``batchpipe airflow up`` unless it already answers, and stopped again
if this test started it. A generated bank file with planted bad rows, in a year no other
test uses, goes into the inbox; the run must succeed and the raw table, the rejects, the
marts and the ledger must hold exactly what the file implies.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("airflow", reason="runs in .venvs/airflow: make test-orchestration")

import httpx
import psycopg2

from tests.orchestration.conftest import REPO_ROOT, STATE_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

DAG_ID = "batchpipe_ingest"
DOMAINS = ("RETAIL", "RESTAURANT", "INVESTMENTS", "MEDICAL", "PUBLIC", "EDUCATION")
LOCATIONS = ("Mumbai", "Delhi", "Pune", "Goa", "Kochi")
VALID_ROWS = 20_000
BAD_LINES = (
    "not-a-date,RETAIL,Mumbai,10.00,1",  # wrong type
    "{day},CASINO,Mumbai,10.00,1",  # not an allowed domain
    "{day},RETAIL,Mumbai,-5.00,1",  # below the minimum
    "{day},RETAIL,Mumbai,10.00",  # a column missing
    "{day},RETAIL,Mumbai,10.00,1,extra",  # a column too many
)


@dataclass(frozen=True)
class BankFile:
    path: Path
    year: int
    valid_rows: int
    bad_rows: int
    total_amount: Decimal
    transaction_count: int


def _write_bank_file(inbox: Path) -> BankFile:
    seed = uuid.uuid4().int
    rng = random.Random(seed)
    year = 2200 + seed % 700
    start = date(year, 1, 1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Domain", "Location", "Total_Amount", "Transaction_count"])
    amount, count = Decimal(0), 0
    for _ in range(VALID_ROWS):
        cents = rng.randrange(10_000, 10_000_000)
        n = rng.randrange(1, 500)
        day = start + timedelta(days=rng.randrange(0, 365))
        writer.writerow(
            [
                day.isoformat(),
                rng.choice(DOMAINS),
                rng.choice(LOCATIONS),
                f"{cents // 100}.{cents % 100:02d}",
                n,
            ]
        )
        amount += Decimal(cents) / 100
        count += n
    text = out.getvalue() + "".join(line.format(day=start.isoformat()) + "\n" for line in BAD_LINES)
    path = inbox / "bank_transactions" / f"e2e-{seed:x}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return BankFile(path, year, VALID_ROWS, len(BAD_LINES), amount, count)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def services(stack_env: dict[str, str]) -> None:
    missing = [
        name
        for name in ("UPLOADER", "PRODUCER", "SINK")
        if not _ready(stack_env[f"BATCHPIPE_{name}_URL"])
    ]
    if missing:
        pytest.fail(
            f"services not ready: {', '.join(missing)}; start them with `batchpipe stack up`",
            pytrace=False,
        )


def _batchpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "batchpipe"), *args],
        env={**os.environ, "BATCHPIPE_STACK_DIR": str(STATE_DIR)},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module")
def airflow(stack_env: dict[str, str], services: None) -> Iterator[httpx.Client]:
    """An authenticated client of the stack's Airflow, started here when not running."""
    url = stack_env["BATCHPIPE_AIRFLOW_URL"]
    started = False
    if _batchpipe("airflow", "status").returncode != 0:
        result = _batchpipe("airflow", "up")
        assert result.returncode == 0, (
            f"batchpipe airflow up failed:\n{result.stdout}{result.stderr}"
        )
        started = True
    password_file = STATE_DIR / "airflow" / "simple_auth_manager_passwords.json.generated"
    password = json.loads(password_file.read_text())["admin"]
    token = httpx.post(
        f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30
    ).json()["access_token"]
    with httpx.Client(
        base_url=f"{url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client
    if started:
        assert _batchpipe("airflow", "down").returncode == 0


def _poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(3)  # the interval between two status polls
    raise AssertionError(f"{what} not done after {timeout:.0f}s")


def _failure_logs(run_id: str, task_ids: list[str], tail: int = 25) -> str:
    """The last log events of each failed task's attempts (worker and triggerer logs)."""
    run_dir = STATE_DIR / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    out = []
    for task_id in task_ids:
        for path in sorted((run_dir / f"task_id={task_id}").glob("attempt=*.log*")):
            events = []
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    events.append(line)
                    continue
                if isinstance(record, dict) and record.get("logger") != "cosmos.dbt.graph":
                    events.append(
                        f"{record.get('level', '?')}: {record.get('event')}"
                        + (f" {record['error_detail']}" if record.get("error_detail") else "")
                    )
            out.append(f"--- {task_id} {path.name} ---")
            out.extend(events[-tail:])
    # what the scheduler said about the run (a task it failed leaves no worker log of it)
    standalone_log = STATE_DIR / "logs" / "airflow.log"
    if standalone_log.exists():
        lines = standalone_log.read_text(errors="replace").splitlines()
        said = [
            line
            for line in lines
            if run_id in line and any(mark in line for mark in ("[error", "[critical", "mismatch"))
        ]
        out.append("--- airflow.log: errors about this run ---")
        out.extend(said[-tail:])
    return "\n".join(out)


def _run_ingest(airflow: httpx.Client, source: str) -> tuple[str, dict[str, Any]]:
    _poll(lambda: airflow.get(f"/dags/{DAG_ID}").status_code == 200, 300, "DAG parsing")
    assert airflow.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
    response = airflow.post(
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"source": source, "dataset": "bank_transactions"}},
    )
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        run = airflow.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
        return run if run["state"] in ("success", "failed") else None

    return run_id, _poll(finished, 1500, f"run {run_id}")


def test_ingest_loads_rejects_builds_marts_and_reconciles(
    airflow: httpx.Client, stack_env: dict[str, str]
) -> None:
    bank = _write_bank_file(Path(stack_env["BATCHPIPE_INBOX_DIR"]))
    source = str(bank.path.relative_to(stack_env["BATCHPIPE_INBOX_DIR"]))

    run_id, run = _run_ingest(airflow, source)

    tis = airflow.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
    states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
    failed = sorted(task for task, state in states.items() if state == "failed")
    assert run["state"] == "success", (
        f"run {run_id} failed; failed tasks: {failed}\n{_failure_logs(run_id, failed)}"
    )
    summary = airflow.get(
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/summary/xcomEntries/return_value",
        params={"deserialize": "true", "stringify": "false"},
    ).json()["value"]
    batch_id = summary["batch_id"]
    rows = summary["rows"]
    assert rows["rows_read"] == bank.valid_rows + bank.bad_rows
    assert rows["rows_loaded"] == bank.valid_rows
    assert rows["rejected_by_producer"] + rows["rejected_by_sink"] == bank.bad_rows
    assert rows["reconciles"] is True
    assert run["note"] and batch_id in run["note"]

    with psycopg2.connect(stack_env["BATCHPIPE_PG_ADMIN_DSN"]) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*), count(distinct _source_row), sum(total_amount), "
            "sum(transaction_count) from raw.bank_transactions where _batch_id = %s",
            (batch_id,),
        )
        assert cur.fetchone() == (
            bank.valid_rows,
            bank.valid_rows,
            bank.total_amount,
            bank.transaction_count,
        )
        cur.execute("select count(*) from batchpipe.rejects where batch_id = %s", (batch_id,))
        assert cur.fetchone() == (bank.bad_rows,)
        cur.execute(
            "select sum(total_amount), sum(transaction_count) "
            "from analytics_marts.daily_domain_totals "
            "where extract(year from transaction_date) = %s",
            (bank.year,),
        )
        assert cur.fetchone() == (bank.total_amount, bank.transaction_count)
        cur.execute(
            "select loaded_rows, rejected_rows, unaccounted_rows, reconciles "
            "from analytics_marts.batch_audit where batch_id = %s",
            (batch_id,),
        )
        assert cur.fetchone() == (bank.valid_rows, bank.bad_rows, 0, True)


QUALITY_DAG_ID = "batchpipe_quality"
STAGING = "analytics_staging.stg_raw__bank_transactions"


def _run_quality(airflow: httpx.Client) -> tuple[str, dict[str, Any]]:
    _poll(lambda: airflow.get(f"/dags/{QUALITY_DAG_ID}").status_code == 200, 300, "parsing")
    response = airflow.post(f"/dags/{QUALITY_DAG_ID}/dagRuns", json={"logical_date": None})
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        run = airflow.get(f"/dags/{QUALITY_DAG_ID}/dagRuns/{run_id}").json()
        return run if run["state"] in ("success", "failed") else None

    return run_id, _poll(finished, 900, f"quality run {run_id}")


def _task_log(dag_id: str, run_id: str, task_id: str) -> str:
    run_dir = STATE_DIR / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    return "\n".join(
        path.read_text(errors="replace")
        for path in sorted((run_dir / f"task_id={task_id}").glob("attempt=*.log*"))
    )


def test_quality_dag_full_tests_fail_on_a_bad_row_of_an_old_batch(
    airflow: httpx.Client, stack_env: dict[str, str]
) -> None:
    """A fact of an already-taken batch turns bad: only the daily full-history tests see it."""
    with psycopg2.connect(stack_env["BATCHPIPE_PG_ADMIN_DSN"]) as conn, conn.cursor() as cur:
        cur.execute(f"select batch_id, source_row, domain from {STAGING} limit 1")
        planted = cur.fetchone()
        assert planted, "no staged row: run the ingest test first (same module)"
        cur.execute(
            f"update {STAGING} set domain = 'CASINO' where batch_id = %s and source_row = %s",
            planted[:2],
        )
    try:
        assert airflow.patch(f"/dags/{QUALITY_DAG_ID}", json={"is_paused": False}).status_code
        run_id, run = _run_quality(airflow)
        assert run["state"] == "failed"
        log = _task_log(QUALITY_DAG_ID, run_id, "full_history_tests")
        assert "accepted_values_stg_raw__bank_transactions_domain" in log
    finally:
        with psycopg2.connect(stack_env["BATCHPIPE_PG_ADMIN_DSN"]) as conn, conn.cursor() as cur:
            cur.execute(
                f"update {STAGING} set domain = %s where batch_id = %s and source_row = %s",
                (planted[2], *planted[:2]),
            )
    run_id, run = _run_quality(airflow)
    assert run["state"] == "success", _task_log(QUALITY_DAG_ID, run_id, "full_history_tests")[
        -4000:
    ]
    airflow.patch(f"/dags/{QUALITY_DAG_ID}", json={"is_paused": True})
