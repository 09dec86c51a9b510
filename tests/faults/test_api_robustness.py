"""Hostile requests against the running services: schemathesis over each OpenAPI schema (no
5xx, responses match the schema, no secret in a response), tokens on every mutating endpoint,
inbox paths that leave the folder, and no secret in any log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.faults.secrets import leaks, leaks_in_logs, stack_secrets
from tests.faults.stack import StackControl, StackService

SERVICES = ("uploader", "s3-producer", "pg-sink")
MUTATING = {
    "uploader": ["/v1/uploads"],
    "s3-producer": ["/v1/runs"],
    "pg-sink": ["/v1/pause", "/v1/resume"],
}


def service(control: StackControl, name: str) -> StackService:
    return {"uploader": control.uploader, "s3-producer": control.producer}.get(
        name, control.sink(1)
    )


@pytest.fixture(scope="module")
def secrets(stack_env: dict[str, str], control: StackControl) -> dict[str, str]:
    return stack_secrets(stack_env, control.config.secrets)


EXAMPLES = int(os.environ.get("BATCHPIPE_FAULT_API_EXAMPLES", 30))


def fuzz_operation(operation: Any, token: str, secrets: dict[str, str]) -> None:
    """Hypothesis over one operation's generated requests, valid token attached."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        database=None,
    )
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        case.validate_response(
            response,
            checks=[
                checks.not_a_server_error,
                checks.response_schema_conformance,
                checks.content_type_conformance,
            ],
        )
        assert not leaks(response.text, secrets), f"a secret in the response: {response.text}"

    check()


@pytest.mark.parametrize("name", SERVICES)
def test_api_conforms_and_never_errors(
    name: str, control: StackControl, secrets: dict[str, str]
) -> None:
    target = service(control, name)
    schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    try:
        for operation in operations:
            fuzz_operation(operation, target.token, secrets)
    finally:
        if name == "pg-sink":  # generated requests may have paused the replica
            resumed = httpx.post(
                f"{target.url}/v1/resume",
                headers={"Authorization": f"Bearer {target.token}"},
                timeout=120,
            )
            assert resumed.status_code == 200, resumed.text
    assert target.ready(), f"{name} is still ready"


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "wrong"])
def test_mutating_endpoints_refuse_a_missing_or_wrong_token(
    name: str, token: str | None, control: StackControl, secrets: dict[str, str]
) -> None:
    target = service(control, name)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for path in MUTATING[name]:
        response = httpx.post(f"{target.url}{path}", json={}, headers=headers, timeout=30)
        assert response.status_code == 401, (path, response.text)
        assert not leaks(response.text, secrets)


@pytest.fixture
def escape_routes(control: StackControl, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Links inside the stack's inbox that point out of it; removed afterwards."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("Date,Domain\n")
    folder = control.config.inbox_dir / "faults-escape"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "file-link.csv").symlink_to(outside / "secret.csv")
    (folder / "dir-link").symlink_to(outside)
    yield {
        "file-link": "faults-escape/file-link.csv",
        "dir-link": "faults-escape/dir-link/secret.csv",
        "stack env via ..": "../env",
        "deep ..": "faults-escape/../../stack.json",
    }
    for link in (folder / "file-link.csv", folder / "dir-link"):
        link.unlink()
    folder.rmdir()


def test_inbox_paths_that_escape_the_folder_are_refused(
    control: StackControl, escape_routes: dict[str, str], secrets: dict[str, str]
) -> None:
    uploader = control.uploader
    for what, path in escape_routes.items():
        response = uploader.post_json("/v1/uploads", {"dataset": "bank_transactions", "path": path})
        assert response.status_code == 403, (what, response.text)
        assert "outside the inbox" in response.json()["detail"]
    for absolute in ("/etc/passwd", str(control.config.state_dir / "env")):
        body = {"dataset": "bank_transactions", "path": absolute}
        response = uploader.post_json("/v1/uploads", body)
        assert response.status_code == 400, (absolute, response.text)
        assert not leaks(response.text, secrets)


def test_no_secret_in_any_log(control: StackControl, secrets: dict[str, str]) -> None:
    """Runs last in this module: the logs then hold what every test above provoked."""
    assert len(secrets) >= 5
    logs = list(control.logs_dir.glob("*.log"))
    assert {"uploader.log", "s3-producer.log", "pg-sink-1.log"} <= {p.name for p in logs}
    assert leaks_in_logs(control.logs_dir, secrets) == {}


def test_hostile_values_get_a_client_error_not_a_server_error(
    control: StackControl, secrets: dict[str, str]
) -> None:
    """Values schemathesis rarely draws: NUL bytes, a name too long for the file system."""
    uploader, producer, sink = control.uploader, control.producer, control.sink(1)
    for path, status in (("a\x00b.csv", 400), ("a" * 5000, 400), ("nested/" * 800, 400)):
        body = {"dataset": "bank_transactions", "path": path}
        response = uploader.post_json("/v1/uploads", body)
        assert response.status_code == status, (path[:40], response.text[:300])
    uri = {"s3_uri": "s3://batchpipe-raw/a\x00b.csv", "dataset": "bank_transactions"}
    assert producer.post_json("/v1/runs", uri).status_code in (400, 404)  # SeaweedFS: 400
    assert producer.get("/v1/runs/%00").status_code == 404
    assert sink.get("/v1/batches/a%00b").status_code == 404
    listed = sink.get("/v1/batches", dataset="a\x00b")
    assert listed.status_code == 200 and listed.json() == [], listed.text[:300]
    assert sink.get("/v1/lag", topic="a\x00b").status_code < 500
    for target in (uploader, producer, sink):
        assert target.ready(), f"{target.name} is still ready"
        assert not leaks(target.log_tail(200), secrets)
