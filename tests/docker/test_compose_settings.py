"""Every setting a container needs is given to it by compose (or its image), and is valid.

The settings classes are found by introspection, so this keeps up as they change: for a
service, its package's settings modules (``<pkg>.settings``, ``<pkg>.*settings*``,
``<pkg>.config``) and every ``BaseSettings`` subclass defined there; for the init and demo
containers, the module they run. Each class is then built from the container's environment
and its ``/run/secrets`` (written here as compose would) exactly as the process would build it.
Least privilege: secrets reach a container only as files, and only the ones it reads.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
from pathlib import Path
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
    SERVICES_DOCKERFILE,
    Dockerfile,
    environment_of,
    example_env,
    load_script_module,
    mounted_secrets,
    raw_compose,
    read_env_file,
    secret_sources,
    services,
    variables_used,
    write_secret_files,
)

SERVICE_PACKAGES = {
    "uploader": "batchpipe_uploader",
    "s3-producer": "batchpipe_producer",
    "pg-sink": "batchpipe_sink",
}
ENTRY_MODULES = {
    "init": "batchpipe_common.provision.__main__",
    "demo": "batchpipe_cli.compose_demo",
}
WITH_SECRETS = REPO_ROOT / "infra" / "docker" / "airflow" / "with_secrets.py"
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
        [importlib.import_module(ENTRY_MODULES[service])]
        if service in ENTRY_MODULES
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
    image_env = Dockerfile.parse(SERVICES_DOCKERFILE).final.env()
    env = {k: v for k, v in image_env.items() if k.startswith("BATCHPIPE_")}
    env.update(environment_of(services()[service]))
    return env


def secret_env_names(service: str) -> set[str]:
    """The ``BATCHPIPE_*`` names the service's secret files stand for."""
    return {target.upper() for target in mounted_secrets(services()[service])}


def build_in_container(
    cls: type[BaseSettings], service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BaseSettings:
    """``cls()`` with the container's environment and secret files, nothing of this machine."""
    for key in [k for k in os.environ if k.upper().startswith("BATCHPIPE_")]:
        monkeypatch.delenv(key)
    for key, value in container_environment(service).items():
        monkeypatch.setenv(key, value)
    secrets = write_secret_files(services()[service], example_env(), tmp_path / "secrets")
    return cls(_secrets_dir=secrets)


@pytest.mark.parametrize("service", [*SERVICE_PACKAGES, *ENTRY_MODULES])
def test_every_required_setting_is_provided_and_valid(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = set(container_environment(service)) | secret_env_names(service)
    for cls in settings_classes(service):
        missing = [name for name in required_env_names(cls) if name not in given]
        assert not missing, f"{service}: {cls.__name__} needs {missing}, compose gives none"
        try:
            build_in_container(cls, service, tmp_path, monkeypatch)
        except ValidationError as exc:
            problems = [e for e in exc.errors() if e["type"] not in CONTAINER_PATH_ERRORS]
            assert not problems, f"{service}: {cls.__name__} rejects compose's values: {problems}"


@pytest.mark.parametrize("service", [*SERVICE_PACKAGES, *ENTRY_MODULES])
def test_every_secret_file_is_read_by_the_container(service: str) -> None:
    """A secret a container does not read is one it should not hold."""
    fields = {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in settings_classes(service)
        for name in cls.model_fields
    }
    unread = secret_env_names(service) - fields
    assert not unread, f"{service} holds secrets it never reads: {sorted(unread)}"


def test_introspection_finds_the_shared_required_endpoints() -> None:
    names = {n for cls in settings_classes("pg-sink") for n in required_env_names(cls)}
    assert {"BATCHPIPE_KAFKA_BOOTSTRAP", "BATCHPIPE_PG_DSN"} <= names


def test_the_sink_gets_its_password_into_the_dsn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cls,) = [c for c in settings_classes("pg-sink") if "pg_dsn" in c.model_fields]
    settings = build_in_container(cls, "pg-sink", tmp_path, monkeypatch)
    dsn = urlsplit(settings.pg_dsn.get_secret_value())  # type: ignore[attr-defined]
    assert (dsn.username, dsn.hostname, dsn.path) == ("batchpipe_sink", "postgres", "/warehouse")
    assert dsn.password == example_env()["PG_SINK_PASSWORD"]


@pytest.mark.parametrize("service", ["uploader", "s3-producer"])
def test_uploader_and_producer_get_no_postgres(service: str) -> None:
    """They never open a pool: no DSN, no role password, no settings field asking for one."""
    env = container_environment(service)
    assert not [key for key in env if "PG_" in key or "postgres" in env[key]], env
    assert not [name for name in secret_env_names(service) if "PG_" in name]
    for cls in settings_classes(service):
        assert not [f for f in cls.model_fields if f.startswith("pg_")], cls.__name__


def _secret_values() -> dict[str, str]:
    env = example_env()
    return {var: env[var] for var in secret_sources().values()}


@pytest.mark.parametrize("service", sorted(services()))
def test_no_secret_is_in_a_containers_environment(service: str) -> None:
    """`docker inspect` shows the environment: secrets go in as files (`secrets:`)."""
    environment = environment_of(services()[service])
    for var, value in _secret_values().items():
        leaked = [key for key, given in environment.items() if value in given]
        assert not leaked, f"{service}: {var}'s value is in {leaked}"


def test_every_secret_of_env_example_is_a_compose_secret() -> None:
    example = read_env_file(ENV_EXAMPLE)
    generated = {key for key, value in example.items() if not value}
    assert generated == set(secret_sources().values())
    compose = raw_compose()["services"]
    used = {name for s in compose.values() for name in mounted_secrets(s).values()}
    assert used == set(secret_sources()), "every secret is given to some container"


def test_every_variable_compose_interpolates_is_in_env_example() -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = set(variables_used(COMPOSE_FILE.read_text())) | set(secret_sources().values())
    undefined = sorted(name for name in used if name not in example)
    assert not undefined, f"add to .env.example: {undefined}"
    unused = sorted(set(example) - used)
    assert not unused, f".env.example variables compose never reads: {unused}"


def test_role_passwords_reach_postgres_and_their_users() -> None:
    """init sets each role's password from the same secret its user logs in with."""
    compose = raw_compose()["services"]
    init = mounted_secrets(compose["init"])
    assert (
        init["batchpipe_pg_sink_password"]
        == mounted_secrets(compose["pg-sink"])["batchpipe_pg_password"]
    )
    assert (
        init["batchpipe_pg_dbt_password"]
        == mounted_secrets(compose["demo"])["batchpipe_warehouse_password"]
    )
    airflow = mounted_secrets(compose["airflow-scheduler"])
    assert {init["batchpipe_pg_dbt_password"], init["batchpipe_pg_airflow_password"]} <= set(
        airflow.values()
    )
    assert init["batchpipe_pg_admin_password"] == "postgres_password"
    assert compose["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )


def test_airflow_waits_on_the_sink_group_the_sink_joins() -> None:
    from batchpipe_sink.settings import SinkSettings

    all_services = services()
    group = all_services["pg-sink"]["environment"]["BATCHPIPE_SINK_GROUP_ID"]
    assert group == SinkSettings.model_fields["sink_group_id"].default
    kafka_conn = all_services["airflow-triggerer"]["environment"]["AIRFLOW_CONN_BATCHPIPE_KAFKA"]
    assert f'"group_id": "{group}"' in kafka_conn


def _conn_host(conn: dict[str, Any]) -> str:
    extra = conn.get("extra") or {}
    if conn.get("host"):
        return str(conn["host"])
    if "bootstrap_servers" in extra:
        return str(extra["bootstrap_servers"]).split(":")[0]
    return urlsplit(str(extra["endpoint_url"])).hostname or ""


def airflow_environment(service: str = "airflow-scheduler") -> dict[str, str]:
    """An Airflow container's environment after its entrypoint filled in the secret files."""
    env = environment_of(services()[service])
    sources, values = secret_sources(), example_env()
    files = {
        target.upper(): values[sources[name]]
        for target, name in mounted_secrets(services()[service]).items()
    }
    return {**env, **load_script_module(WITH_SECRETS).fill(env, files)}


def test_airflow_gets_its_secrets_filled_in() -> None:
    env = airflow_environment()
    values = example_env()
    meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (meta.username, meta.password) == ("airflow", values["PG_AIRFLOW_PASSWORD"])
    assert env["AIRFLOW__CORE__FERNET_KEY"] == values["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    assert env["BATCHPIPE_DBT_PASSWORD"] == values["PG_DBT_PASSWORD"]
    assert "${" not in json.dumps(env), "every placeholder names a mounted secret"
    api = airflow_environment("airflow-api-server")
    assert api["AIRFLOW_ADMIN_PASSWORD"] == values["AIRFLOW_ADMIN_PASSWORD"]


def test_airflow_has_a_connection_for_every_conn_id_the_dags_use() -> None:
    config_py = REPO_ROOT / "orchestration" / "src" / "batchpipe_airflow" / "config.py"
    conn_ids = [v for k, v in vars(load_script_module(config_py)).items() if k.endswith("_CONN_ID")]
    assert len(conn_ids) >= 5
    all_services = services()
    token = example_env()["BATCHPIPE_API_TOKEN"]
    env = airflow_environment()
    for conn_id in conn_ids:
        raw = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
        assert raw, f"no AIRFLOW_CONN_{conn_id.upper()} for {conn_id}"
        conn = json.loads(raw)
        host = _conn_host(conn)
        assert host in all_services, f"{conn_id} points at {host}, not a compose service"
        if host in SERVICE_PACKAGES:
            assert conn["port"] == 8000 and conn["password"] == token, conn_id


@pytest.mark.parametrize("service", sorted(n for n in services() if n.startswith("airflow-")))
def test_airflow_commands_run_with_the_secrets_filled_in(service: str) -> None:
    """A healthcheck is exec'd beside the entrypoint, not through it: one that runs `airflow`
    (which needs the metadata DSN) must go through with_secrets.py itself."""
    healthcheck = services()[service].get("healthcheck")
    if healthcheck is None:
        assert service == "airflow-init", "only the one-shot has no healthcheck"
        return
    check = " ".join(healthcheck["test"][1:])
    if "airflow " in check:
        assert check.startswith("python /opt/batchpipe/bin/with_secrets.py airflow "), check
    else:
        assert check.startswith("curl "), "an HTTP probe needs no secret"
