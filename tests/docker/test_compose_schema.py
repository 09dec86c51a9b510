"""docker-compose.yml against the Compose Specification's JSON schema (check-jsonschema's
vendored ``vendor.compose-spec``), plus a broken copy to prove the check can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.docker.model import COMPOSE_FILE, raw_compose

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema is a dev dependency: uv sync"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_matches_the_compose_specification() -> None:
    result = _validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    broken = raw_compose()
    broken["services"]["kafka"]["healthcheck"]["retries"] = "many"
    broken["services"]["pg-sink"]["deploy"]["replicas"] = [2]
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _validate(path)
    assert result.returncode != 0
    assert "replicas" in result.stdout + result.stderr
