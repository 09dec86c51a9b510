"""Every expected failure of the CLI is one line saying what happened and what to do, with a
non-zero exit and never a traceback: a service that is down, a wrong token, a port that is
taken, a PostgreSQL that refuses. Run as a user runs it: the ``batchpipe`` executable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchpipe_cli.airflow.api import AirflowApiError, AirflowClient
from batchpipe_cli.airflow.report import print_mart_previews
from batchpipe_cli.console import console
from batchpipe_cli.stack.process import StackError

BATCHPIPE = Path(sys.executable).parent / "batchpipe"


def _batchpipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPIPE_")}
    return subprocess.run(
        [str(BATCHPIPE), *args],
        env={**clean, "COLUMNS": "80", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's single line (asserting there is exactly one and no traceback)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.csv"
    path.write_text("Date,Domain,Location,Total_Amount,Transaction_count\n")
    return path


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process (this test) is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _upload_via_service(sample: Path, env: dict[str, str]) -> str:
    args = ("upload", str(sample), "--dataset", "bank_transactions", "--via-service")
    return _one_line(_batchpipe(*args, env=env))


def test_upload_via_a_service_that_is_down(sample: Path, tmp_path: Path) -> None:
    line = _upload_via_service(
        sample,
        {"BATCHPIPE_UPLOADER_URL": "http://127.0.0.1:9", "BATCHPIPE_STACK_DIR": str(tmp_path)},
    )
    assert "the uploader at http://127.0.0.1:9 did not answer" in line
    assert "`batchpipe stack up`" in line


@pytest.mark.integration
def test_upload_with_a_wrong_token(sample: Path, stack_env: dict[str, str]) -> None:
    line = _upload_via_service(sample, {**stack_env, "BATCHPIPE_API_TOKEN": "not-the-token"})
    assert "refused the token (401)" in line
    assert "`batchpipe stack env`" in line


def test_stack_up_on_a_port_that_is_taken(held_port: int, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    try:
        result = _batchpipe(
            "stack",
            "up",
            "--no-services",
            "--state-dir",
            state,
            env={"BATCHPIPE_STACK_POSTGRES_PORT": str(held_port)},
        )
        line = _one_line(result)
        assert f"postgres: port {held_port} on 127.0.0.1 is taken by pid {os.getpid()}" in line
        assert "BATCHPIPE_STACK_PORT_OFFSET" in line
        # the servers that did start (they start together) are stopped again
        status = _batchpipe("stack", "status", "--state-dir", state).stdout
        pids = {
            cells[1].strip(): cells[2].strip()
            for cells in (row.split("│") for row in status.splitlines())
            if len(cells) > 3
        }
        assert pids["kafka"] == pids["s3"] == pids["postgres"] == "-", status
    finally:
        _batchpipe("stack", "down", "--state-dir", state)


def test_airflow_up_when_postgres_is_not_running(tmp_path: Path) -> None:
    result = _batchpipe("airflow", "up", "--state-dir", str(tmp_path / "state"))
    line = _one_line(result)
    assert "postgres is not running: start it with `batchpipe stack up`" in line


def test_mart_preview_when_postgres_refuses() -> None:
    """The demo's last step (and compose-demo's) turns a refusing PostgreSQL into one line."""
    dsn = "postgresql://batchpipe_dbt:wrong@127.0.0.1:9/warehouse"
    with pytest.raises(StackError) as caught:
        print_mart_previews(console, dsn, schema="analytics_marts", batch_id="b")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("PostgreSQL at 127.0.0.1:9 refused the mart preview as batchpipe_dbt")
    assert "`batchpipe stack status`" in message


def test_airflow_client_when_airflow_is_down() -> None:
    """`demo` and `compose-demo` talk to Airflow through this client: one line, not httpx's."""
    with pytest.raises(AirflowApiError) as caught:
        AirflowClient("http://127.0.0.1:9", "admin", "x", timeout=2)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Airflow at http://127.0.0.1:9 did not answer (ConnectError)")


def test_compose_demo_client_without_airflow(tmp_path: Path) -> None:
    """The demo container's client, with its settings and secret files as compose gives
    them: the sample is written, then Airflow not answering is one line and exit 1."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "batchpipe_airflow_password").write_text("pw")
    (secrets / "batchpipe_warehouse_password").write_text("pw")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPIPE_")}
    result = subprocess.run(
        [sys.executable, "-m", "batchpipe_cli.compose_demo", "--rows", "5"],
        env={
            **clean,
            "BATCHPIPE_SECRETS_DIR": str(secrets),
            "BATCHPIPE_AIRFLOW_URL": "http://127.0.0.1:9",
            "BATCHPIPE_WAREHOUSE_DSN": "postgresql://batchpipe_dbt@127.0.0.1:9/warehouse",
            "BATCHPIPE_INBOX_DIR": str(tmp_path / "inbox"),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert (tmp_path / "inbox" / "bank_transactions" / "demo-bank-5.csv").exists()
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("compose-demo: Airflow at http://127.0.0.1:9 did not answer")
