"""Fixtures of the sink tests: a private dataset per test, sink replicas as uvicorn processes.

Every test gets its own contract (dataset, topic, DLQ topic and raw table named after a random
suffix) and its own consumer group, so tests never see each other's rows or offsets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic

from batchpipe_common.contracts import Contract, load_contract
from batchpipe_common.kafka import admin_client, reliable_producer
from batchpipe_common.settings import REPO_ROOT, EndpointSettings

BANK_CONTRACT = REPO_ROOT / "contracts" / "bank_transactions.yaml"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Dataset:
    contract: Contract
    contracts_dir: Path
    group_id: str


def write_contract(directory: Path, name: str, extra_columns: str = "") -> Contract:
    """The bank contract renamed to ``name`` (dataset, topic, raw table), plus extra columns."""
    text = BANK_CONTRACT.read_text()
    text = text.replace("name: bank_transactions", f"name: {name}")
    text = text.replace("raw_table: raw.bank_transactions", f"raw_table: raw.{name}")
    text = text.replace("topic: bank_transactions", f"topic: {name}")
    text = text.replace("natural_key:", extra_columns + "natural_key:")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return load_contract(path)


@pytest.fixture
async def dataset(endpoints: EndpointSettings, tmp_path: Path) -> AsyncIterator[Dataset]:
    name = f"bt_{uuid.uuid4().hex[:10]}"
    contract = write_contract(tmp_path / "contracts", name)
    admin = admin_client(endpoints)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(contract.topic, num_partitions=6, replication_factor=1),
                NewTopic(contract.dlq_topic, num_partitions=3, replication_factor=1),
            ]
        )
        yield Dataset(contract, tmp_path / "contracts", f"test-{name}")
        await admin.delete_topics([contract.topic, contract.dlq_topic])
    finally:
        await admin.close()


@pytest.fixture
async def producer(endpoints: EndpointSettings) -> AsyncIterator[AIOKafkaProducer]:
    prod = reliable_producer(endpoints)
    await prod.start()
    try:
        yield prod
    finally:
        await prod.stop()


@pytest.fixture
async def warehouse(admin_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass
class ServiceProcess:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)  # type: ignore[arg-type]

    def post(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.post(f"{self.url}{path}", headers=headers, timeout=60)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.alive():
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


SinkFactory = Callable[..., ServiceProcess]


def spawn_app(
    app: str, name: str, environment: dict[str, str], log_dir: Path, token: str
) -> ServiceProcess:
    """``uvicorn <app>`` on a free loopback port, output in ``<log_dir>/<name>.log``."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    uvicorn = Path(sys.executable).parent / "uvicorn"
    argv = [str(uvicorn), app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=environment)
    return ServiceProcess(name, port, proc, log_path, token)


def wait_ready(service: ServiceProcess) -> None:
    try:
        wait_for(lambda: service.ready() or not service.alive(), 60, f"{service.name} ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{service.log_tail()}") from exc
    assert service.alive(), f"{service.name} exited:\n{service.log_tail()}"


def stop_all(services: list[ServiceProcess]) -> None:
    for service in services:
        if service.alive():
            try:
                service.stop(timeout=60)
            except subprocess.TimeoutExpired:
                service.stop(signal.SIGKILL)


@pytest.fixture
def start_sink(
    stack_env: dict[str, str], dataset: Dataset, tmp_path: Path
) -> Iterator[SinkFactory]:
    """Start a pg-sink replica (``uvicorn batchpipe_sink.app:app``) on the test's dataset."""
    started: list[ServiceProcess] = []

    def start(
        name: str = "pg-sink-1", env: dict[str, str] | None = None, wait: bool = True
    ) -> ServiceProcess:
        environment = {
            **os.environ,
            **stack_env,
            "BATCHPIPE_CONTRACTS_DIR": str(dataset.contracts_dir),
            "BATCHPIPE_SINK_GROUP_ID": dataset.group_id,
            "BATCHPIPE_INSTANCE_ID": name,
            "BATCHPIPE_LOG_FORMAT": "json",
            "BATCHPIPE_SINK_LAG_REFRESH_S": "1",
            **(env or {}),
        }
        token = stack_env["BATCHPIPE_API_TOKEN"]
        sink = spawn_app("batchpipe_sink.app:app", name, environment, tmp_path, token)
        started.append(sink)
        if wait:
            wait_ready(sink)
        return sink

    yield start
    stop_all(started)
