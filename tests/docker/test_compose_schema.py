"""The compose schema check can fail: a broken copy of docker-compose.yml is rejected by
check-jsonschema's vendored ``vendor.compose-spec``. That docker-compose.yml itself passes is
the pre-commit hook ``compose-schema``'s job (`make lint`, tests/lint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.docker.model import raw_compose

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema is a dev dependency: uv sync"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    broken = raw_compose()
    broken["services"]["kafka"]["healthcheck"]["retries"] = "many"
    broken["services"]["pg-sink"]["deploy"]["replicas"] = [2]
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _validate(path)
    assert result.returncode != 0
    assert "replicas" in result.stdout + result.stderr
