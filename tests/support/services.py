"""What the ledger and lag checks need from a running service: a GET and its log's tail.

Both the sink tests' private uvicorn processes (``tests.sink.conftest.ServiceProcess``) and the
local stack's services (``tests.faults.stack.StackService``) satisfy it.
"""

from __future__ import annotations

from typing import Protocol

import httpx


class HttpService(Protocol):
    @property
    def name(self) -> str: ...

    def get(self, path: str, **params: object) -> httpx.Response: ...

    def log_tail(self, lines: int = 30) -> str: ...
