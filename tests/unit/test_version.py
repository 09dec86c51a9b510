"""batchpipe has one version: ``batchpipe_common.__version__``. It is CHANGELOG.md's latest
release, what ``batchpipe --version`` prints and what every service's API declares and its
``/healthz`` answers (live, against the stack: tests/integration/test_service_versions.py);
every package reads it from there, and the Docker image tags default to it."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from batchpipe_cli.stack.services import SERVICE_SPECS, ServiceSpec
from batchpipe_common import __version__
from batchpipe_common.settings import REPO_ROOT
from tests.support.changelog import latest_release

VERSION_FILE = REPO_ROOT / "services" / "common" / "src" / "batchpipe_common" / "__init__.py"
PYPROJECTS = [
    REPO_ROOT / "pyproject.toml",
    REPO_ROOT / "orchestration" / "pyproject.toml",
    *sorted((REPO_ROOT / "services").glob("*/pyproject.toml")),
]


def test_the_version_is_the_changelogs_latest_release() -> None:
    assert __version__ == latest_release()


def test_batchpipe_version_prints_it() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="batchpipe")
    assert script.value == "batchpipe_cli.main:app", "`batchpipe` is the app run below"
    result = CliRunner().invoke(script.load(), ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"batchpipe {latest_release()}\n"


@pytest.mark.parametrize("spec", SERVICE_SPECS, ids=[s.name for s in SERVICE_SPECS])
async def test_service_api_declares_it(spec: ServiceSpec) -> None:
    """The app's OpenAPI says the version, and /healthz's answer carries it (the live answer
    needs the app's lifespan, i.e. the stack: tests/integration/test_service_versions.py)."""
    module, attribute = spec.app.split(":")
    app: FastAPI = getattr(importlib.import_module(module), attribute)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        openapi = (await client.get("/openapi.json")).json()
    assert openapi["info"]["version"] == latest_release()
    health = openapi["components"]["schemas"]["Health"]
    assert "version" in health["required"]


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
    tags = dict(
        re.findall(r"image: batchpipe/([\w-]+):\$\{BATCHPIPE_IMAGE_TAG:-([^}]+)\}", compose)
    )
    assert {"uploader", "s3-producer", "pg-sink", "airflow"} <= tags.keys()
    assert set(tags.values()) == {__version__}, tags
    env_example = (REPO_ROOT / ".env.example").read_text()
    assert f"\nBATCHPIPE_IMAGE_TAG={__version__}\n" in env_example
