"""A small client of Airflow 3's public REST API (``/api/v2``, JWT from ``/auth/token``)."""

from __future__ import annotations

from typing import Any

import httpx


class AirflowApiError(RuntimeError):
    pass


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        response = self._send(
            "POST", "/auth/token", json={"username": username, "password": password}
        )
        if response.status_code >= 400:
            raise AirflowApiError(
                f"login to {self.base_url} as {username!r} failed: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        self._http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; Airflow not answering is an ``AirflowApiError`` naming it."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AirflowApiError(
                f"Airflow at {self.base_url} did not answer ({type(exc).__name__}); check that "
                "it runs (`batchpipe airflow status`, or `docker compose ps` in Docker)"
            ) from exc

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 400:
            raise AirflowApiError(
                f"{method} /api/v2{path}: HTTP {response.status_code} {response.text[:500]}"
            )
        return response.json() if response.content else None

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.call("GET", f"/dags/{dag_id}")
        except AirflowApiError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        return result

    def import_errors(self) -> list[dict[str, Any]]:
        result = self.call("GET", "/importErrors")
        errors: list[dict[str, Any]] = result.get("import_errors", [])
        return errors

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any], run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        result = self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)
        return str(result["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return result

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        result = self.call(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500}
        )
        tis: list[dict[str, Any]] = result["task_instances"]
        return tis

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        result = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "true", "stringify": "false"},
        )
        return result.get("value")
