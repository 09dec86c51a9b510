"""docker-compose.yml's services: health, start order, pinned images, scaling, commands."""

from __future__ import annotations

from typing import Any

import pytest

from batchpipe_cli.stack.services import SERVICE_SPECS, ServiceSpec
from tests.docker.model import (
    CONTAINER_HOST,
    SERVICE_DOCKERFILES,
    SERVICE_PORT,
    Dockerfile,
    one_shot_services,
    raw_compose,
    services,
)

ALL = services()
ONE_SHOTS = one_shot_services(ALL)
LONG_RUNNING = sorted(set(ALL) - ONE_SHOTS)
EXPECTED = {
    "postgres",
    "kafka",
    "kafka-init",
    "seaweedfs",
    "s3-init",
    "uploader",
    "s3-producer",
    "pg-sink",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}


def test_the_stack_has_every_part() -> None:
    assert set(ALL) == EXPECTED
    assert {"kafka-init", "s3-init", "airflow-init"} == ONE_SHOTS


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    check: dict[str, Any] = ALL[name].get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable")
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert ALL[name].get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", sorted(ONE_SHOTS))
def test_one_shots_run_once_and_a_long_running_service_waits_for_them(name: str) -> None:
    """`docker compose up --wait` exits 0 only if a running service adopts each one-shot."""
    assert ALL[name].get("restart") == "no"
    adopters = [
        other
        for other in LONG_RUNNING
        if (ALL[other].get("depends_on") or {}).get(name, {}).get("condition")
        == "service_completed_successfully"
    ]
    assert adopters, f"no long-running service waits for {name}"


def test_every_dependency_is_waited_on_with_a_condition() -> None:
    for name, service in raw_compose()["services"].items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long form of depends_on"
        for dependency, spec in depends_on.items():
            assert dependency in ALL, f"{name} depends on unknown {dependency}"
            condition = spec.get("condition")
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            )
            assert condition == expected, f"{name} -> {dependency}: {condition}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_images_are_pinned_never_latest(name: str) -> None:
    image: str = ALL[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag, f"{name}: {image} has no tag"
    assert tag != "latest" and any(ch.isdigit() for ch in tag), f"{name}: {image}"


def test_pg_sink_runs_two_replicas_and_can_scale() -> None:
    sink = ALL["pg-sink"]
    assert sink["deploy"]["replicas"] == 2
    assert "ports" not in sink, "a fixed host port would stop `--scale pg-sink=N`"
    assert "container_name" not in sink and "hostname" not in sink
    for name, service in ALL.items():
        assert "container_name" not in service, f"{name}: container_name blocks scaling"


def test_published_ports_are_bound_to_loopback() -> None:
    for name, service in ALL.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


@pytest.mark.parametrize("spec", SERVICE_SPECS, ids=[s.name for s in SERVICE_SPECS])
def test_container_runs_the_command_the_local_stack_runs(spec: ServiceSpec) -> None:
    service = ALL[spec.name]
    image_command = Dockerfile.parse(SERVICE_DOCKERFILES[spec.name]).final.exec_form("CMD")
    command = service.get("command", image_command)
    assert "entrypoint" not in service
    assert command == spec.argv(CONTAINER_HOST, SERVICE_PORT)
    assert service["build"]["dockerfile"] == f"services/{spec.name}/Dockerfile"
    health = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{SERVICE_PORT}/readyz" in health


def test_uploader_and_airflow_see_the_same_inbox() -> None:
    def inbox_mounts(service: dict[str, Any]) -> list[str]:
        return [v for v in service.get("volumes", []) if v.split(":")[1] == "/data/inbox"]

    uploader = inbox_mounts(ALL["uploader"])
    assert len(uploader) == 1 and uploader[0].endswith(":ro")
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert inbox_mounts(ALL[name]) == uploader, name
        assert ALL[name]["environment"]["BATCHPIPE_INBOX_DIR"] == "/data/inbox"
    assert ALL["uploader"]["environment"]["BATCHPIPE_INBOX_DIR"] == "/data/inbox"


def test_airflow_components_share_one_configuration() -> None:
    components = [n for n in ALL if n.startswith("airflow-")]
    first = ALL[components[0]]["environment"]
    for name in components:
        env = ALL[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == first["AIRFLOW__API_AUTH__JWT_SECRET"]
        assert env["AIRFLOW__CORE__FERNET_KEY"] == first["AIRFLOW__CORE__FERNET_KEY"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
            "http://airflow-api-server:8080/execution/"
        )
        assert ALL[name]["image"] == ALL[components[0]]["image"]
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"], "the JWT secret comes from .env"
