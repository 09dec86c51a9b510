"""The batchpipe services as uvicorn processes, with the command line their containers use.

``SERVICE_SPECS`` is the one list of what runs: the container images (docker-compose.yml) and
the local stack both start ``uvicorn <app> --host H --port P``; only host and port differ.
A service whose package is not installed is skipped by ``up`` and not listed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from batchpipe_cli.stack.component import Component
from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.process import (
    StackError,
    alive_pid,
    ensure_port_free,
    spawn,
    stop_pid,
    tail,
    wait_until,
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app: str
    port_key: str

    @property
    def module(self) -> str:
        return self.app.split(":")[0]

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def argv(self, host: str, port: int) -> list[str]:
        """The service's command line (containers use the same, with their host and port)."""
        return ["uvicorn", self.app, "--host", host, "--port", str(port), "--no-access-log"]


SERVICE_SPECS = (
    ServiceSpec("uploader", "batchpipe_uploader.app:app", "uploader"),
    ServiceSpec("s3-producer", "batchpipe_producer.app:app", "s3_producer"),
    ServiceSpec("pg-sink", "batchpipe_sink.app:app", "pg_sink"),
)


class Service(Component):
    """One uvicorn process of a service (the pg-sink may run as several replicas)."""

    def __init__(self, config: StackConfig, spec: ServiceSpec, replica: int = 1) -> None:
        super().__init__(config)
        self.spec = spec
        self.replica = replica
        self.name = spec.name if spec.name != "pg-sink" else f"pg-sink-{replica}"

    @property
    def port(self) -> int:
        return self.config.ports[self.spec.port_key] + (self.replica - 1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self) -> str:
        return self.url

    def pid(self) -> int | None:
        return alive_pid(self.pid_file, f"--port {self.port}")

    def argv(self) -> list[str]:
        argv = self.spec.argv("127.0.0.1", self.port)
        uvicorn = Path(sys.executable).parent / "uvicorn"
        return [str(uvicorn), *argv[1:]]

    def environment(self, stack_env: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **stack_env}
        env["BATCHPIPE_LOG_FORMAT"] = "json"
        env["BATCHPIPE_INSTANCE_ID"] = self.name
        return env

    def start(self) -> None:
        from batchpipe_cli.stack.envfile import stack_environment

        if not self.spec.installed():
            raise StackError(f"{self.name}: package {self.spec.module} is not installed")
        ensure_port_free(self.port, self.name)
        spawn(
            self.argv(),
            log_file=self.log_file,
            pid_file=self.pid_file,
            env=self.environment(stack_environment(self.config)),
            cwd=self.config.state_dir,
        )
        try:
            wait_until(self.healthy, timeout=60, what=self.name, log_file=self.log_file)
        except StackError as exc:
            raise StackError(f"{exc}\n{tail(self.log_file)}") from exc

    def healthy(self) -> bool:
        """``GET /readyz`` answers 200 (the service reaches its servers)."""
        try:
            return httpx.get(f"{self.url}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout=45)
        self.pid_file.unlink(missing_ok=True)


def service_components(config: StackConfig) -> list[Service]:
    services: list[Service] = []
    for spec in SERVICE_SPECS:
        if not spec.installed():
            continue
        replicas = config.sink_replicas if spec.name == "pg-sink" else 1
        services.extend(Service(config, spec, r) for r in range(1, replicas + 1))
    return services
