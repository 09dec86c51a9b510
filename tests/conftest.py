"""Test fixtures: endpoints of the running local stack (or of testcontainers, on request).

By default the tests use the stack that ``batchpipe stack up`` started (``make test`` starts
it): its ``BATCHPIPE_*`` variables are read from ``$BATCHPIPE_STACK_DIR/env`` (default
``.stack/env``). With a Docker engine and ``BATCHPIPE_TEST_BACKEND=containers``, the same
fixtures start apache/kafka, postgres and SeaweedFS with testcontainers instead
(``tests/containers.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchpipe_common.settings import REPO_ROOT, EndpointSettings, load_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the stack (the ``stack_env`` fixture, directly or through another
    fixture) is an integration test: ``make test-unit`` deselects it with the marker."""
    for item in items:
        if "stack_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def _stack_env_file() -> Path:
    state = Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack"))
    return state / "env"


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """The BATCHPIPE_* variables of the servers under test, also exported to os.environ."""
    if os.environ.get("BATCHPIPE_TEST_BACKEND") == "containers":
        from tests.containers import container_stack

        with container_stack() as env:
            os.environ.update(env)
            yield env
        return
    from batchpipe_cli.stack.envfile import read_env_file

    path = _stack_env_file()
    if not path.exists():
        pytest.fail(
            f"no local stack environment at {path}: run `batchpipe stack up` (make test does)",
            pytrace=False,
        )
    env = read_env_file(str(path))
    os.environ.update(env)
    yield env


@pytest.fixture(scope="session")
def endpoints(stack_env: dict[str, str]) -> EndpointSettings:
    return load_settings(EndpointSettings)


@pytest.fixture(scope="session")
def admin_dsn(stack_env: dict[str, str]) -> str:
    return stack_env["BATCHPIPE_PG_ADMIN_DSN"]
