"""What every part of the local stack offers to ``up``, ``down`` and ``status``."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.process import StackError, wait_until

T = TypeVar("T")


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    pid: int | None
    endpoint: str
    healthy: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Component(ABC):
    name: str

    def __init__(self, config: StackConfig) -> None:
        self.config = config

    @property
    def home(self) -> Path:
        """The component's own folder in the state folder."""
        return self.config.state_dir / self.name

    @property
    def log_file(self) -> Path:
        return self.config.logs_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.config.pids_dir / f"{self.name}.pid"

    @abstractmethod
    def endpoint(self) -> str: ...

    @abstractmethod
    def pid(self) -> int | None:
        """The pid of the running process this stack started, or None."""

    @abstractmethod
    def start(self) -> None:
        """Start the process and return once it is ready (raise ``StackError`` otherwise)."""

    @abstractmethod
    def healthy(self) -> bool:
        """A real readiness probe: a query, a metadata request, a listing."""

    @abstractmethod
    def stop(self) -> None: ...

    recovery_grace_s: float = 30.0
    """How long a running but unready process may take to answer before it is restarted (a
    PostgreSQL in crash recovery answers "in recovery" for a while: stopping it then can hang)."""

    def ensure_up(self) -> bool:
        """Start when not running; True when it had to start. Idempotent."""
        if self.pid() is not None and self.healthy():
            return False
        if self.pid() is not None:
            with contextlib.suppress(StackError):
                wait_until(
                    lambda: self.pid() is None or self.healthy(),
                    timeout=self.recovery_grace_s,
                    what=f"{self.name} to recover",
                )
            if self.pid() is not None and self.healthy():
                return False
        if self.pid() is not None:
            # running but not answering after the grace: give it a clean restart
            self.stop()
        self.start()
        return True

    def status(self) -> ComponentStatus:
        pid = self.pid()
        return ComponentStatus(self.name, pid, self.endpoint(), pid is not None and self.healthy())

    @staticmethod
    def run_async(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coro)
