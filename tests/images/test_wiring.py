"""How the image tests turn compose's services into containers on the host network, and find
Debian's mirror: checked without an engine (fast; the engine tests are test_images.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import CONTAINER_HOST, SERVICE_PORT, mounted_secrets, services
from tests.images.containers import (
    LOOPBACK,
    SERVER_VARIABLES,
    SERVICES,
    command,
    container_environment,
    healthcheck,
    nanoseconds,
    volumes,
    write_secrets,
)
from tests.images.standins import DEFAULT_MIRROR, debian_mirror, standins

STACK_ENV = {
    "BATCHPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:36092",
    "BATCHPIPE_S3_ENDPOINT_URL": "http://127.0.0.1:36000",
    "BATCHPIPE_S3_ACCESS_KEY_ID": "stack-key",
    "BATCHPIPE_S3_SECRET_ACCESS_KEY": "stack-s3-secret",
    "BATCHPIPE_PG_DSN": "postgresql://batchpipe_sink:sink-pw@127.0.0.1:32432/warehouse",
    "BATCHPIPE_API_TOKEN": "stack-token",
}


@pytest.mark.parametrize("name", SERVICES)
def test_the_environment_is_composes_with_the_stacks_servers(name: str) -> None:
    compose = services()[name]
    env = container_environment(compose, STACK_ENV)
    assert set(env) == set(compose["environment"])
    for key, value in env.items():
        expected = STACK_ENV[key] if key in SERVER_VARIABLES else str(compose["environment"][key])
        if key == "BATCHPIPE_PG_DSN":
            expected = "postgresql://batchpipe_sink@127.0.0.1:32432/warehouse"
        assert value == expected, key
    assert not [v for v in env.values() if "pw" in v or "secret" in v or "token" in v]


def test_a_setting_left_naming_a_compose_server_fails() -> None:
    compose = {"environment": {"BATCHPIPE_OTHER_URL": "http://seaweedfs:8333"}}
    with pytest.raises(AssertionError, match="BATCHPIPE_OTHER_URL"):
        container_environment(compose, STACK_ENV)


@pytest.mark.parametrize("name", SERVICES)
def test_only_the_port_and_host_differ_from_compose(name: str) -> None:
    compose = services()[name]
    argv = command(compose, 41234)
    differs = [(a, b) for a, b in zip(argv, compose["command"], strict=True) if a != str(b)]
    assert differs == [(LOOPBACK, CONTAINER_HOST), ("41234", str(SERVICE_PORT))]
    check = healthcheck(compose, 41234)
    assert " ".join(check["test"]) == " ".join(compose["healthcheck"]["test"]).replace(
        f":{SERVICE_PORT}/", ":41234/"
    )
    assert check["interval"] == nanoseconds(compose["healthcheck"]["interval"])


def test_durations() -> None:
    assert nanoseconds("10s") == 10_000_000_000
    assert nanoseconds("1m30s") == 90_000_000_000
    with pytest.raises(ValueError, match="unsupported"):
        nanoseconds("1h")


@pytest.mark.parametrize("name", SERVICES)
def test_every_secret_file_holds_the_stacks_value(name: str, tmp_path: Path) -> None:
    compose = services()[name]
    folder = write_secrets(compose, STACK_ENV, tmp_path / "secrets")
    files = {p.name: p.read_text() for p in folder.iterdir()}
    assert set(files) == set(mounted_secrets(compose))
    for target, value in files.items():
        if target == "batchpipe_pg_password":
            assert value == urlsplit(STACK_ENV["BATCHPIPE_PG_DSN"]).password
        else:
            assert value == STACK_ENV[target.upper()]
        assert (folder / target).stat().st_mode & 0o004, "the image's user must read it"


def test_the_mirror_comes_from_apts_sources(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    one_line = tmp_path / "sources.list"
    one_line.write_text("deb [arch=amd64] http://other.example/debian bookworm main contrib\n")
    assert debian_mirror([tmp_path / "missing", deb822]) == "http://mirror.example/debian"
    assert debian_mirror([one_line]) == "http://other.example/debian"
    assert debian_mirror([tmp_path / "missing"]) == DEFAULT_MIRROR


def test_one_stand_in_per_external_base_image() -> None:
    tags = sorted(s.tag for s in standins())
    assert tags == ["ghcr.io/astral-sh/uv:0.13.8", "python:3.11.14-slim-bookworm"]


def test_the_inbox_and_the_contracts_are_mounted_as_compose_mounts_them(tmp_path: Path) -> None:
    mounts = volumes(services()["uploader"], tmp_path / "secrets", tmp_path / "inbox")
    assert mounts[str(tmp_path / "inbox")] == {"bind": "/data/inbox", "mode": "ro"}
    assert mounts[str(REPO_ROOT / "contracts")] == {"bind": "/app/contracts", "mode": "ro"}
    sink = volumes(services()["pg-sink"], tmp_path / "secrets", tmp_path / "inbox")
    assert sink[str(REPO_ROOT / "contracts")] == {"bind": "/app/contracts", "mode": "ro"}
