"""``airflow standalone`` as a component of the local stack.

``start`` spawns it detached (pid file, log in ``<state>/logs/airflow.log``) and waits until the
API's health endpoint reports the metadata database, scheduler, triggerer and DAG processor
healthy. ``stop`` ends the children first: standalone forwards a stop to its children only on
SIGINT, and a SIGTERM to the parent alone would leave the scheduler, API server, triggerer
and DAG processor running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import httpx
import psutil

from batchpipe_cli.airflow.environment import AirflowPaths, airflow_environment
from batchpipe_cli.stack.component import Component
from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.process import (
    StackError,
    alive_pid,
    ensure_port_free,
    spawn,
    tail,
    wait_until,
)

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
READY_TIMEOUT = 420.0
CHILD_STOP_TIMEOUT = 60.0
PID_MARKER = "airflow standalone"
DROPPED_VARIABLES = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")


def unhealthy_components(health: dict[str, Any]) -> list[str]:
    """The components that ``/api/v2/monitor/health`` does not report as healthy."""
    return [name for name in COMPONENTS if (health.get(name) or {}).get("status") != "healthy"]


class AirflowStandalone(Component):
    name = "airflow"

    def __init__(self, config: StackConfig) -> None:
        super().__init__(config)
        self.paths = AirflowPaths(config)

    def endpoint(self) -> str:
        return self.paths.url

    def pid(self) -> int | None:
        return alive_pid(self.paths.pid_file, PID_MARKER)

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.paths.url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def healthy(self) -> bool:
        try:
            return not unhealthy_components(self.health())
        except (httpx.HTTPError, ValueError):
            return False

    def _check_started(self) -> bool:
        if self.pid() is None:
            raise StackError(f"airflow standalone exited:\n{tail(self.paths.log_file, 30)}")
        health = self.health()
        missing = unhealthy_components(health)
        if missing:
            raise RuntimeError(f"not healthy yet: {', '.join(missing)}")
        return True

    def start(self) -> None:
        if not self.paths.executable.exists():
            raise StackError(
                f"no Airflow at {self.paths.executable}: install it with `make airflow-venv` "
                "(uv venv .venvs/airflow --python 3.11 && uv pip install --python "
                ".venvs/airflow -r orchestration/requirements.lock -e orchestration)"
            )
        ensure_port_free(self.paths.port, self.name)
        env = {**os.environ, **airflow_environment(self.config)}
        for name in DROPPED_VARIABLES:
            env.pop(name, None)
        spawn(
            [str(self.paths.executable), "standalone"],
            log_file=self.paths.log_file,
            pid_file=self.paths.pid_file,
            env=env,
            cwd=self.paths.home,
        )
        try:
            wait_until(
                self._check_started,
                timeout=READY_TIMEOUT,
                what="airflow",
                log_file=self.paths.log_file,
            )
        except StackError:
            self.stop()
            raise

    def stop(self) -> None:
        """Children first (each ends its own workers), then the parent with SIGINT."""
        pid = self.pid()
        if pid is not None:
            stop_children_then_parent(pid)
        self.paths.pid_file.unlink(missing_ok=True)


def _signal(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _kill_left(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)  # the interval between two checks of the processes' state
    _signal([p for p in procs if _running(p)], signal.SIGKILL)


def stop_children_then_parent(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        descendants = parent.children(recursive=True)
        children = parent.children(recursive=False)
    except psutil.NoSuchProcess:
        return
    _signal(children, signal.SIGTERM)
    # every descendant: a child that ends without reaping its workers leaves them orphaned
    _kill_left(descendants, CHILD_STOP_TIMEOUT)
    _signal([parent], signal.SIGINT)
    _kill_left([parent], 30)
