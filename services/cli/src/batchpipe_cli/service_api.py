"""Calling the stack's services from the CLI: base URL and token from ``BATCHPIPE_*`` (filled
from the local stack's env file), and one clear error line when a service does not answer."""

from __future__ import annotations

import os
from typing import Any

import httpx

from batchpipe_cli.console import fail

SERVICES = {
    "uploader": "BATCHPIPE_UPLOADER_URL",
    "s3-producer": "BATCHPIPE_PRODUCER_URL",
    "pg-sink": "BATCHPIPE_SINK_URL",
}


class ServiceClient:
    """JSON calls to one service; ``call`` returns the body, or None for a 404 when allowed."""

    def __init__(self, service: str, timeout_s: float = 30) -> None:
        from batchpipe_cli.commands.upload_cmd import stack_defaults

        stack_defaults()
        variable = SERVICES[service]
        url = os.environ.get(variable)
        if not url:
            fail(f"{variable} is not set: start the stack with `batchpipe stack up`")
        token = os.environ.get("BATCHPIPE_API_TOKEN")
        self.service, self.url = service, url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def call(self, method: str, path: str, *, allow_404: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(
                f"the {self.service} at {self.url} did not answer ({type(exc).__name__}); "
                "`batchpipe stack status` shows it"
            )
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code >= 400:
            detail = " ".join(response.text.split())[:300]
            fail(f"the {self.service} answered {response.status_code} to {path}: {detail}")
        return response.json()
