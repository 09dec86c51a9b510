"""batchpipe has one version: ``batchpipe_common.__version__``. It is CHANGELOG.md's latest
release, what ``batchpipe --version`` prints and what every service's ``/healthz`` answers;
every package reads it from there, and the Docker image tags default to it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from batchpipe_cli.stack.services import SERVICE_SPECS, ServiceSpec
from batchpipe_common import __version__
from batchpipe_common.settings import REPO_ROOT

CHANGELOG = REPO_ROOT / "CHANGELOG.md"
VERSION_FILE = REPO_ROOT / "services" / "common" / "src" / "batchpipe_common" / "__init__.py"
RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", re.MULTILINE)
PYPROJECTS = [
    REPO_ROOT / "pyproject.toml",
    REPO_ROOT / "orchestration" / "pyproject.toml",
    *sorted((REPO_ROOT / "services").glob("*/pyproject.toml")),
]


def _latest_release() -> str:
    text = CHANGELOG.read_text()
    match = RELEASE.search(text)
    assert match, "CHANGELOG.md has a release heading: ## [X.Y.Z] - YYYY-MM-DD"
    assert text.index("## [Unreleased]") < match.start(), "Unreleased comes first"
    return match["version"]


def test_the_version_is_the_changelogs_latest_release() -> None:
    assert __version__ == _latest_release()


def test_batchpipe_version_prints_it() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "batchpipe"), "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"batchpipe {_latest_release()}\n"


@pytest.mark.parametrize("spec", SERVICE_SPECS, ids=[s.name for s in SERVICE_SPECS])
async def test_service_healthz_reports_it(spec: ServiceSpec) -> None:
    module, attribute = spec.app.split(":")
    app: FastAPI = getattr(importlib.import_module(module), attribute)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/healthz")
        openapi = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"] == _latest_release()
    assert openapi["info"]["version"] == _latest_release()


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_package_reads_the_version_from_the_one_place(pyproject: Path) -> None:
    config = tomllib.loads(pyproject.read_text())
    assert "version" not in config["project"], "no version of its own"
    assert config["project"]["dynamic"] == ["version"]
    assert (pyproject.parent / config["tool"]["hatch"]["version"]["path"]).resolve() == (
        VERSION_FILE
    )
    assert config["project"]["license"] == "Apache-2.0"


def test_docker_image_tags_default_to_it() -> None:
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    tags = re.findall(r"image: batchpipe/[\w-]+:\$\{BATCHPIPE_IMAGE_TAG:-([^}]+)\}", compose)
    assert len(tags) == 4, "uploader, s3-producer, pg-sink, airflow"
    assert set(tags) == {__version__}
    env_example = (REPO_ROOT / ".env.example").read_text()
    assert f"\nBATCHPIPE_IMAGE_TAG={__version__}\n" in env_example
