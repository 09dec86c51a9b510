"""docker-compose.yml's services: health, start order, pinned and built images, scaling,
commands, what is mounted into them."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from batchpipe_cli.stack.services import SERVICE_SPECS, ServiceSpec
from batchpipe_common.settings import REPO_ROOT
from tests import containers
from tests.docker.model import (
    CONTAINER_HOST,
    SERVICE_PORT,
    SERVICES_DOCKERFILE,
    build_args,
    one_shot_services,
    raw_compose,
    services,
)

ALL = services()
ONE_SHOTS = one_shot_services(ALL)
ON_REQUEST = {name for name, service in ALL.items() if service.get("profiles")}
LONG_RUNNING = sorted(set(ALL) - ONE_SHOTS - ON_REQUEST)
INFRASTRUCTURE = {"postgres", "kafka", "seaweedfs"}
EXPECTED = {
    *INFRASTRUCTURE,
    "init",
    "uploader",
    "s3-producer",
    "pg-sink",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "demo",
}


def test_the_stack_has_every_part() -> None:
    assert set(ALL) == EXPECTED
    assert {"init", "airflow-init"} == ONE_SHOTS
    assert {"demo"} == ON_REQUEST, "the demo client runs only with `docker compose run`"


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
    assert "entrypoint" not in service
    assert service["command"] == spec.argv(CONTAINER_HOST, SERVICE_PORT)
    assert REPO_ROOT / service["build"]["dockerfile"] == SERVICES_DOCKERFILE
    assert build_args(service) == {"PACKAGE": f"batchpipe-{spec.name}"}
    health = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{SERVICE_PORT}/readyz" in health


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_our_images_are_built_never_pulled(name: str) -> None:
    """`docker compose up` or `pull` must not ask a registry for batchpipe/* first."""
    service = ALL[name]
    ours = service["image"].startswith("batchpipe/")
    assert ours == ("build" in service), f"{name}: batchpipe/* images and only they are built"
    if ours:
        assert service.get("pull_policy") == "build", f"{name}: pull_policy: build"


def test_every_image_name_is_built_from_one_place() -> None:
    """Services sharing an image name build it the same way (same file, same arguments)."""
    builds: dict[str, Any] = {}
    for name, service in ALL.items():
        if "build" in service:
            assert builds.setdefault(service["image"], service["build"]) == service["build"], name


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("airflow-")))
def test_airflow_waits_for_infrastructure_and_init_only(name: str) -> None:
    """As in Airflow's own compose file: a held pg-sink must not keep the scheduler down."""
    allowed = {"postgres", "init", "airflow-init"} - {name}
    assert set(ALL[name]["depends_on"]) <= allowed | INFRASTRUCTURE, name
    assert "init" in ALL[name]["depends_on"]


def _tracked(path: str) -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "--", path], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return result.stdout.split()


CONTRACTS_TARGETS = ("/app/contracts", "/opt/batchpipe/contracts")
"""Where the services and Airflow read the contracts (``BATCHPIPE_CONTRACTS_DIR``)."""


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_no_checkout_path_is_bind_mounted_into_a_long_running_service(name: str) -> None:
    """Code, scripts and configuration travel in the images or as `configs:`; a bind mount
    is the user's data only, read-only: the inbox, and the contracts folder (the datasets the
    user registers, taken in without a restart: docs/datasets.md), never other checkout files."""
    for volume in ALL[name].get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if not source.startswith((".", "/", "~")):
            continue  # a named volume
        if target in CONTRACTS_TARGETS:
            assert (source, mode) == ("./contracts", ["ro"]), f"{name}: {volume}"
            continue
        assert (target, mode) == ("/data/inbox", ["ro"]), f"{name}: {volume}"
        assert not _tracked(source), f"{name}: {source} holds files of the checkout"


def test_the_inbox_is_not_part_of_the_checkout() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "data/inbox/x.csv"], cwd=REPO_ROOT, check=False
    )
    assert ignored.returncode == 0, "data/ is git-ignored"


def test_configs_ship_scripts_to_images_we_do_not_build() -> None:
    configs = raw_compose().get("configs") or {}
    for name, config in configs.items():
        assert (REPO_ROOT / config["file"]).is_file(), name
    users = [n for n, s in ALL.items() for c in s.get("configs", []) if c["source"] in configs]
    assert users == ["seaweedfs"], "batchpipe's own images carry their files"


def test_server_images_match_the_testcontainers_path_and_the_local_kafka() -> None:
    assert ALL["kafka"]["image"] == containers.KAFKA_IMAGE
    assert ALL["postgres"]["image"] == containers.POSTGRES_IMAGE
    assert ALL["seaweedfs"]["image"] == containers.SEAWEEDFS_IMAGE
    pom = (REPO_ROOT / "infra" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{ALL['kafka']['image'].split(':')[1]}</kafka.version>" in pom


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
