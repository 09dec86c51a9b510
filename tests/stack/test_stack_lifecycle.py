"""`batchpipe stack` as a user drives it, on a stack of its own (own state folder and ports).

up twice (the second a no-op), three healthy servers, Kafka killed -> unhealthy -> back with
its data, a taken port named in the error, down leaves none of its processes (Airflow's
included, when it runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "batchpipe_cli.main"]
PORT_OFFSET = "700"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def _status(env: dict[str, str]) -> tuple[int, dict[str, dict[str, object]]]:
    result = _run(["stack", "status", "--json"], env)
    return result.returncode, {row["component"]: row for row in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def own_stack() -> Iterator[dict[str, str]]:
    # under /tmp itself: the PostgreSQL server user must be able to traverse the path
    state = Path(tempfile.mkdtemp(prefix="batchpipe-stack-test-"))
    state.chmod(0o755)
    env = {
        **os.environ,
        "BATCHPIPE_STACK_DIR": str(state),
        "BATCHPIPE_STACK_PORT_OFFSET": PORT_OFFSET,
    }
    env.pop("BATCHPIPE_KAFKA_BOOTSTRAP", None)
    yield env
    _run(["stack", "down", "--wipe"], env)


def _bootstrap(state: Path) -> str:
    return str(json.loads((state / "stack.json").read_text())["ports"]["kafka"])


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while len(values) < end:
            for records in (await consumer.getmany(timeout_ms=5000)).values():
                values += [r.value for r in records if r.value is not None]
        return values
    finally:
        await consumer.stop()


def test_up_is_idempotent_and_status_reports_three_healthy(own_stack: dict[str, str]) -> None:
    first = _run(["stack", "up", "--no-services"], own_stack)
    assert first.returncode == 0, first.stderr + first.stdout
    code, rows = _status(own_stack)
    assert code == 0
    assert set(rows) == {"postgres", "kafka", "s3"}
    assert all(row["healthy"] for row in rows.values())
    pids = {name: row["pid"] for name, row in rows.items()}

    second = _run(["stack", "up", "--no-services"], own_stack)
    assert second.returncode == 0
    assert second.stdout.count("already running") == 3
    assert {name: row["pid"] for name, row in _status(own_stack)[1].items()} == pids
    env_file = Path(own_stack["BATCHPIPE_STACK_DIR"]) / "env"
    assert "BATCHPIPE_KAFKA_BOOTSTRAP=" in env_file.read_text()


def test_killed_kafka_is_unhealthy_and_up_restores_it_with_data(
    own_stack: dict[str, str],
) -> None:
    state = Path(own_stack["BATCHPIPE_STACK_DIR"])
    bootstrap = f"127.0.0.1:{_bootstrap(state)}"
    topic = "batchpipe.manifests"
    marker = f"survives-{uuid.uuid4().hex}".encode()
    asyncio.run(_produce(bootstrap, topic, marker))

    _, rows = _status(own_stack)
    kafka_pid = rows["kafka"]["pid"]
    assert isinstance(kafka_pid, int)
    os.kill(kafka_pid, signal.SIGKILL)
    psutil.Process(kafka_pid).wait(timeout=30) if psutil.pid_exists(kafka_pid) else None

    code, rows = _status(own_stack)
    assert code == 1
    assert rows["kafka"]["healthy"] is False
    assert rows["postgres"]["healthy"] is True

    again = _run(["stack", "up", "--no-services"], own_stack)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "kafka: started" in again.stdout
    code, rows = _status(own_stack)
    assert code == 0 and rows["kafka"]["healthy"] is True
    assert marker in asyncio.run(_read_all(bootstrap, topic))


def test_taken_port_is_named(own_stack: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {
            **own_stack,
            "BATCHPIPE_STACK_DIR": str(tmp_path / "other"),
            "BATCHPIPE_STACK_POSTGRES_PORT": str(port),
        }
        result = _run(["stack", "up", "--no-services"], env)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "taken" in result.stderr


def test_down_leaves_no_process(own_stack: dict[str, str]) -> None:
    _, rows = _status(own_stack)
    pids = [row["pid"] for row in rows.values() if isinstance(row["pid"], int)]
    assert len(pids) == 3
    # a stand-in for `airflow standalone` (its pid file and command line), stopped like it
    airflow = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "airflow standalone"]
    )
    pid_file = Path(own_stack["BATCHPIPE_STACK_DIR"]) / "pids" / "airflow.pid"
    pid_file.write_text(f"{airflow.pid}\n")
    result = _run(["stack", "down"], own_stack)
    assert result.returncode == 0
    assert "airflow: stopping" in result.stdout
    assert airflow.wait(timeout=60) is not None
    assert not pid_file.exists()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    code, rows = _status(own_stack)
    assert code == 1 and not any(row["pid"] for row in rows.values())
