"""HTTP clients for the batchpipe services and Airflow's own REST API, from connections.

A service connection (``AIRFLOW_CONN_BATCHPIPE_UPLOADER`` and friends, JSON) holds the
service's scheme, host and port, and the API token as its password; requests carry
``Authorization: Bearer <token>``. Non-2xx answers raise ``ServiceError`` naming the call,
the status and the body the service sent back.
"""

from __future__ import annotations

from typing import Any

import httpx
from airflow.sdk import BaseHook


class ServiceError(RuntimeError):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _base_url(conn_id: str) -> tuple[str, Any]:
    conn = BaseHook.get_connection(conn_id)
    scheme = conn.schema or "http"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}", conn


class ServiceClient:
    """JSON over HTTP to one batchpipe service."""

    def __init__(self, conn_id: str, timeout: float = 60.0) -> None:
        self.conn_id = conn_id
        self.base_url, conn = _base_url(conn_id)
        headers = {"Accept": "application/json"}
        if conn.password:
            headers["Authorization"] = f"Bearer {conn.password}"
        self._headers = headers
        self._timeout = timeout

    def request(self, method: str, path: str, json: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = httpx.request(
                method, url, json=json, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise ServiceError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ServiceError(
                f"{method} {url} -> HTTP {response.status_code}: {response.text[:1000]}",
                response.status_code,
            )
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, json: Any) -> Any:
        return self.request("POST", path, json=json)


class AirflowApi:
    """Airflow's public REST API (``/api/v2``) with a JWT from ``/auth/token``."""

    def __init__(self, conn_id: str, timeout: float = 30.0) -> None:
        self.base_url, conn = _base_url(conn_id)
        self._login = conn.login or "admin"
        self._password = conn.password or ""
        self._timeout = timeout
        self._token: str | None = None

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": self._login, "password": self._password},
                timeout=self._timeout,
            )
            if response.status_code >= 400:
                raise ServiceError(
                    f"Airflow API login as {self._login!r} -> HTTP {response.status_code}: "
                    f"{response.text[:300]}",
                    response.status_code,
                )
            self._token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v2{path}"
        response = httpx.request(method, url, headers=self._auth(), timeout=self._timeout, **kwargs)
        if response.status_code >= 400:
            raise ServiceError(
                f"{method} {url} -> HTTP {response.status_code}: {response.text[:500]}",
                response.status_code,
            )
        return response.json() if response.content else None
