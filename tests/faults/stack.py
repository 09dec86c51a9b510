"""The local stack as the fault tests drive it: its services over HTTP, its processes to kill.

Every operation goes through the stack's own components (``batchpipe_cli.stack``), so a
server is stopped and started exactly as ``batchpipe stack`` does it. The stack's helpers run
their readiness probes with ``asyncio.run``: async tests call them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from batchpipe_cli.stack import manager
from batchpipe_cli.stack.component import ComponentStatus
from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.kafka import Kafka
from batchpipe_cli.stack.postgres import Postgres
from batchpipe_cli.stack.process import StackError, pid_is_running
from batchpipe_cli.stack.s3 import S3Server
from batchpipe_cli.stack.services import SERVICE_SPECS, Service
from batchpipe_uploader.multipart import STAGING_PREFIX
from tests.sink.conftest import wait_for

T = TypeVar("T")


def port_bindable(port: int) -> bool:
    """A listener could bind ``port`` now (TIME_WAIT leftovers do not count, as for servers)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def ended(pid: int) -> bool:
    """The process is gone; reaped first when it is this process's child (a service that
    ``stack up`` started from a test is one, and would otherwise stay a zombie)."""
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not pid_is_running(pid)
    return reaped == pid or not pid_is_running(pid)


@dataclass(frozen=True)
class StackService:
    """One service of the stack, reached by its URL; satisfies ``tests.support.HttpService``."""

    name: str
    url: str
    log_path: Path
    token: str

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)  # type: ignore[arg-type]

    def post_json(self, path: str, body: object, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=120)

    def ready(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class StackControl:
    """Start, stop, kill and scale parts of the local stack; read where its services listen."""

    def __init__(self, token: str) -> None:
        self.config = StackConfig.load()
        self.token = token
        self.initial_replicas = self.config.sink_replicas
        self.kafka_clients_stopped = False
        """set when a port clash forced stopping the Kafka clients (see _retrying_port_clash)"""

    def _service(self, name: str, replica: int = 1) -> Service:
        spec = next(s for s in SERVICE_SPECS if s.name == name)
        return Service(self.config, spec, replica)

    def _http(self, component: Service) -> StackService:
        return StackService(component.name, component.url, component.log_file, self.token)

    @property
    def uploader(self) -> StackService:
        return self._http(self._service("uploader"))

    @property
    def producer(self) -> StackService:
        return self._http(self._service("s3-producer"))

    def sink(self, replica: int = 1) -> StackService:
        return self._http(self._service("pg-sink", replica))

    def sink_pid(self, replica: int) -> int | None:
        return self._service("pg-sink", replica).pid()

    def producer_pid(self) -> int | None:
        return self._service("s3-producer").pid()

    @property
    def logs_dir(self) -> Path:
        return self.config.logs_dir

    # --- the servers -------------------------------------------------------------------

    def up(self, sink_replicas: int | None = None) -> list[ComponentStatus]:
        """``batchpipe stack up``: start what is not running (S3 gets its bucket back)."""
        self.config = StackConfig.load()
        return self._retrying_port_clash(
            lambda: manager.up(self.config, report=lambda _line: None, sink_replicas=sink_replicas)
        )

    def scale(self, replicas: int) -> None:
        self.config = StackConfig.load()
        manager.scale_sink(self.config, replicas, report=lambda _line: None)

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        os.kill(pid, sig)
        wait_for(lambda: ended(pid), 30, f"pid {pid} to end")

    def kill_sink(self, replica: int) -> int:
        pid = self.sink_pid(replica)
        assert pid is not None, f"pg-sink-{replica} is not running"
        self.kill(pid)
        return pid

    def _retrying_port_clash(self, action: Callable[[], T]) -> T:
        """Run ``action``; when the broker could not bind its port, clear the way and retry.

        The stack's ports lie in Linux's ephemeral range (32768-60999): while the broker is
        down, a client reconnecting to it is sooner or later given the broker's own port as
        its source port and connects to itself (a TCP self-connection), which holds the port.
        The services' reconnect loops make that certain after a minute or so of downtime. Then
        the Kafka clients (s3-producer, sink replicas) are stopped, the port is waited for,
        and ``action`` runs again (``up`` starts the services again).
        """
        port = self.config.ports["kafka"]
        for _attempt in range(3):
            try:
                return action()
            except StackError as exc:
                if not self._port_clash(exc):
                    raise
                Kafka(self.config).stop()
                self.kafka_clients_stopped = True
                for replica in range(1, 10):
                    self._service("pg-sink", replica).stop()
                self._service("s3-producer").stop()
                wait_for(lambda: port_bindable(port), 120, f"port {port} to be free", 0.05)
                manager.up(
                    self.config, report=lambda _line: None, with_services=False
                )  # the servers alone, then ``action`` again
        return action()

    def _port_clash(self, exc: StackError) -> bool:
        log = Kafka(self.config).log_file
        recent = log.read_text(errors="replace")[-200_000:] if log.exists() else ""
        return any("already in use" in text or "is taken by" in text for text in (str(exc), recent))

    # --- crashes -------------------------------------------------------------------------

    def server_pid(self, name: str) -> int:
        """The pid of ``postgres`` (the postmaster), ``kafka`` or ``s3``."""
        servers: dict[str, type[Postgres | Kafka | S3Server]] = {
            "postgres": Postgres,
            "kafka": Kafka,
            "s3": S3Server,
        }
        pid = servers[name](self.config).pid()
        assert pid is not None, f"{name} is not running"
        return pid

    def crash(self, name: str) -> int:
        """SIGKILL a server (``postgres``, ``kafka``, ``s3``) or a service (``s3-producer``,
        ``pg-sink-N``); its pid. ``up`` restarts it."""
        if name.startswith("pg-sink-"):
            return self.kill_sink(int(name.rsplit("-", 1)[1]))
        pid = self.producer_pid() if name == "s3-producer" else self.server_pid(name)
        assert pid is not None, f"{name} is not running"
        self.kill(pid)
        return pid

    def stop_kafka(self) -> None:
        Kafka(self.config).stop()

    def start_kafka(self) -> None:
        self._retrying_port_clash(lambda: Kafka(self.config).start())
        self.up()  # the services again, in case they had to be stopped

    def stop_postgres(self) -> None:
        Postgres(self.config).stop()

    def start_postgres(self) -> None:
        Postgres(self.config).start()

    def stop_s3(self) -> None:
        S3Server(self.config).stop()

    def s3_leftovers(self) -> list[str]:
        """Keys of the unfinished multipart uploads and staging objects in the bucket."""
        client: Any = S3Server(self.config).client()
        bucket = self.config.bucket
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        staging = client.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX).get("Contents", [])
        return [str(item["Key"]) for item in (*uploads, *staging)]

    def wait_nothing_left_in_s3(self) -> None:
        """Until the uploader has cleaned what an S3 outage kept it from cleaning."""
        wait_for(lambda: not self.s3_leftovers(), 60, "the uploader to clean its leftovers")

    def restore(self) -> None:
        """Everything up again with the replica count the session started with, all healthy."""
        statuses = self.up(sink_replicas=self.initial_replicas)
        unhealthy = [s.component for s in statuses if not s.healthy]
        assert not unhealthy, f"stack not healthy after restore: {unhealthy}"
