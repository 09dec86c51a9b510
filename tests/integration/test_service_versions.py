"""Every service the local stack runs answers ``/healthz`` with CHANGELOG.md's latest release."""

from __future__ import annotations

import httpx
import pytest

from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.services import SERVICE_SPECS, service_components
from tests.support.changelog import latest_release

pytestmark = pytest.mark.integration


def test_every_running_service_reports_the_changelogs_version(
    stack_env: dict[str, str],
) -> None:
    running = [s for s in service_components(StackConfig.load()) if s.pid() is not None]
    assert {s.spec.name for s in running} == {spec.name for spec in SERVICE_SPECS}
    for service in running:
        response = httpx.get(f"{service.url}/healthz", timeout=10)
        assert response.status_code == 200, f"{service.name}: {response.text}"
        assert response.json()["version"] == latest_release(), service.name
