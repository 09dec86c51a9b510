"""Fixtures for the Airflow tests. These run with the Airflow virtualenv's python
(``make test-orchestration``: ``.venvs/airflow/bin/python -m pytest tests/orchestration
--confcutdir tests/orchestration``), where the workspace packages are not installed, so the
stack's environment is read here without ``batchpipe_common``. Under the workspace venv the
test modules skip themselves (``pytest.importorskip("airflow")``).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.orchestration.kafka_batches import Batchpipe

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack"))

# Airflow reads its configuration at import: give the tests their own home in the stack's
# state folder (never ~/airflow), no examples, Cosmos without telemetry or Variable caches.
os.environ.setdefault("AIRFLOW_HOME", str(STATE_DIR / "airflow-tests"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# as the stack's Airflow (batchpipe_cli.airflow.environment): Cosmos runs `dbt ls` per dataset
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "180")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS", "False")
os.environ.setdefault("AIRFLOW__COSMOS__CACHE_DIR", str(STATE_DIR / "airflow-tests" / "cosmos"))


def _read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            parts = shlex.split(value)
            env[key] = parts[0] if parts else ""
    return env


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The running local stack's ``BATCHPIPE_*`` variables, also exported to os.environ."""
    path = STATE_DIR / "env"
    if not path.exists():
        pytest.fail(
            f"no local stack environment at {path}: run `batchpipe stack up` first",
            pytrace=False,
        )
    env = _read_env_file(path)
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["BATCHPIPE_KAFKA_BOOTSTRAP"]


@pytest.fixture
async def pipe(kafka_bootstrap: str) -> AsyncIterator[Batchpipe]:
    """A throwaway data topic, its DLQ and a sink group on the stack's broker."""
    from tests.orchestration.kafka_batches import Batchpipe

    pipe = Batchpipe(kafka_bootstrap)
    await pipe.create_topics()
    yield pipe
    await pipe.delete_topics()
