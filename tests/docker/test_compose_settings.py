"""Every setting a container needs is given to it by compose (or its image), and is valid.

The settings classes are found by introspection, so this keeps up as they change: for a
service, its package's settings modules (``<pkg>.settings``, ``<pkg>.*settings*``,
``<pkg>.config``) and every ``BaseSettings`` subclass defined there; for the one-shot init
services, the class in their script. Each class is then built from the container's
environment exactly as the process would build it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    INIT_SCRIPTS,
    SERVICE_DOCKERFILES,
    Dockerfile,
    environment_of,
    load_script_module,
    read_env_file,
    services,
    variables_used,
)

SERVICE_PACKAGES = {
    "uploader": "batchpipe_uploader",
    "s3-producer": "batchpipe_producer",
    "pg-sink": "batchpipe_sink",
}
IMAGE_OF = {"kafka-init": "uploader", "s3-init": "uploader"}
# Paths inside the container do not exist on this machine; pydantic's path checks say so.
CONTAINER_PATH_ERRORS = {"path_not_directory", "path_not_file", "path_not_exists"}


def _settings_modules(package_name: str) -> list[ModuleType]:
    try:
        package = importlib.import_module(package_name)
    except ImportError as exc:
        pytest.fail(f"{package_name} is not importable: {exc}", pytrace=False)
    modules = []
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        leaf = info.name.rsplit(".", 1)[-1]
        if "settings" in leaf or leaf == "config":
            modules.append(importlib.import_module(info.name))
    if not modules:
        pytest.fail(f"{package_name} has no settings module", pytrace=False)
    return modules


def settings_classes(service: str) -> list[type[BaseSettings]]:
    modules = (
        [load_script_module(INIT_SCRIPTS[service])]
        if service in INIT_SCRIPTS
        else _settings_modules(SERVICE_PACKAGES[service])
    )
    classes = [
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseSettings) and cls.__module__ == module.__name__
    ]
    if not classes:
        pytest.fail(f"{service}: no BaseSettings subclass found", pytrace=False)
    return classes


def required_env_names(cls: type[BaseSettings]) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [
        f"{prefix}{field.alias or name}".upper()
        for name, field in cls.model_fields.items()
        if field.is_required()
    ]


def container_environment(service: str) -> dict[str, str]:
    """The image's ENV (BATCHPIPE_* only) overlaid with compose's environment."""
    image_service = IMAGE_OF.get(service, service)
    image_env = Dockerfile.parse(SERVICE_DOCKERFILES[image_service]).final.env()
    env = {k: v for k, v in image_env.items() if k.startswith("BATCHPIPE_")}
    env.update(environment_of(services()[service]))
    return env


@pytest.mark.parametrize("service", [*SERVICE_PACKAGES, *INIT_SCRIPTS])
def test_every_required_setting_is_provided_and_valid(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = container_environment(service)
    for key in [k for k in os.environ if k.upper().startswith("BATCHPIPE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for cls in settings_classes(service):
        missing = [name for name in required_env_names(cls) if not env.get(name)]
        assert not missing, f"{service}: {cls.__name__} needs {missing}, compose gives none"
        try:
            cls()
        except ValidationError as exc:
            problems = [e for e in exc.errors() if e["type"] not in CONTAINER_PATH_ERRORS]
            assert not problems, f"{service}: {cls.__name__} rejects compose's values: {problems}"


def test_introspection_finds_the_shared_required_endpoints() -> None:
    names = {n for cls in settings_classes("pg-sink") for n in required_env_names(cls)}
    assert {"BATCHPIPE_KAFKA_BOOTSTRAP", "BATCHPIPE_PG_DSN"} <= names


def test_every_variable_compose_interpolates_is_in_env_example() -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = variables_used(COMPOSE_FILE.read_text())
    undefined = sorted(name for name in used if name not in example)
    assert not undefined, f"add to .env.example: {undefined}"
    unused = sorted(set(example) - set(used))
    assert not unused, f".env.example variables compose never reads: {unused}"


def _conn_host(conn: dict[str, Any]) -> str:
    extra = conn.get("extra") or {}
    if conn.get("host"):
        return str(conn["host"])
    if "bootstrap_servers" in extra:
        return str(extra["bootstrap_servers"]).split(":")[0]
    return urlsplit(str(extra["endpoint_url"])).hostname or ""


def test_airflow_has_a_connection_for_every_conn_id_the_dags_use() -> None:
    config_py = REPO_ROOT / "orchestration" / "src" / "batchpipe_airflow" / "config.py"
    conn_ids = [v for k, v in vars(load_script_module(config_py)).items() if k.endswith("_CONN_ID")]
    assert len(conn_ids) >= 5
    all_services = services()
    token = all_services["uploader"]["environment"]["BATCHPIPE_API_TOKEN"]
    env = all_services["airflow-scheduler"]["environment"]
    for conn_id in conn_ids:
        raw = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
        assert raw, f"no AIRFLOW_CONN_{conn_id.upper()} for {conn_id}"
        conn = json.loads(raw)
        host = _conn_host(conn)
        assert host in all_services, f"{conn_id} points at {host}, not a compose service"
        if host in SERVICE_PACKAGES:
            assert conn["port"] == 8000 and conn["password"] == token, conn_id
