"""The service images built from ``services/Dockerfile`` and run as compose runs them, on the
host network against the local stack's servers.

What comes from ``docker-compose.yml``, unchanged: the image name, the build (Dockerfile,
context, ``PACKAGE``), the command, the environment, the secret files (their names, mounted
read-only at ``/run/secrets``), the inbox and contracts mounts and the healthcheck (test, interval,
timeout, retries, start period). What the host network forces to differ, and only that:

- the port: every container cannot listen on compose's ``8000`` of one network namespace, so
  ``--port 8000`` of the command and ``:8000/`` of the healthcheck name the container's own
  port, and ``--host 0.0.0.0`` becomes ``127.0.0.1`` (compose binds host ports to 127.0.0.1);
- where the servers are: the variables that name one (``SERVER_VARIABLES``) get the local
  stack's value instead of compose's service names, and the secret files hold the stack's
  secrets. The sink's DSN keeps compose's form: host, role and database, the password in its
  file.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import docker
from docker.models.containers import Container

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import SERVICE_PORT, build_args, mounted_secrets
from tests.faults.stack import StackService

SERVICES = ("uploader", "s3-producer", "pg-sink")
"""The compose services whose images the tests build and run."""
SERVER_VARIABLES = (
    "BATCHPIPE_KAFKA_BOOTSTRAP",
    "BATCHPIPE_S3_ENDPOINT_URL",
    "BATCHPIPE_S3_ACCESS_KEY_ID",
    "BATCHPIPE_PG_DSN",
)
"""Settings naming a server (or its user): the local stack's value replaces compose's."""
COMPOSE_HOSTS = ("kafka", "seaweedfs", "postgres")
"""compose's service names of the servers, which no container setting may name here"""
LOOPBACK = "127.0.0.1"
_DURATION = re.compile(r"^(?:(\d+)m)?(?:(\d+)s)?$")


def nanoseconds(duration: str) -> int:
    """A compose duration (``10s``, ``1m30s``) in nanoseconds, as the engine API wants it."""
    match = _DURATION.match(duration)
    if not match or not duration:
        raise ValueError(f"unsupported duration {duration!r}")
    minutes, seconds = (int(g or 0) for g in match.groups())
    return (minutes * 60 + seconds) * 1_000_000_000


def build_image(cli: str, service: Mapping[str, Any], log: Path) -> str:
    """``docker build`` with BuildKit of compose's ``build:`` for the service; the image name.
    ``RUN`` steps use the host's network: the daemon the tests start has no bridge."""
    build = service["build"]
    argv = [cli, "build", "--progress=plain", "--network=host"]
    argv += ["-f", str(REPO_ROOT / build["dockerfile"])]
    for key, value in build_args(service).items():
        argv += ["--build-arg", f"{key}={value}"]
    argv += ["-t", service["image"], str(REPO_ROOT / build["context"])]
    with log.open("wb") as out:
        result = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "DOCKER_BUILDKIT": "1"}
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(f"building {service['image']} failed (log {log}):\n{tail}")
    return str(service["image"])


def stack_value(name: str, stack_env: Mapping[str, str]) -> str:
    """A setting's value on the local stack, secrets left out of DSNs."""
    value = stack_env[name]
    if name.endswith("_DSN"):
        parts = urlsplit(value)
        host = f"{parts.username}@{parts.hostname}:{parts.port}"
        value = urlunsplit(parts._replace(netloc=host))
    return value


def stack_secret(target: str, stack_env: Mapping[str, str]) -> str:
    """The local stack's value of the secret file ``target`` (``batchpipe_<setting>``)."""
    name = target.upper()
    if name in stack_env:
        return stack_env[name]
    if name == "BATCHPIPE_PG_PASSWORD":
        password = urlsplit(stack_env["BATCHPIPE_PG_DSN"]).password
        assert password, "the stack's sink DSN has no password"
        return password
    raise KeyError(f"the local stack has no value for the secret file {target}")


def container_environment(
    service: Mapping[str, Any], stack_env: Mapping[str, str]
) -> dict[str, str]:
    env = {key: str(value) for key, value in (service.get("environment") or {}).items()}
    for name in SERVER_VARIABLES:
        if name in env:
            env[name] = stack_value(name, stack_env)
    named = [k for k, v in env.items() if any(re.search(rf"\b{h}:", v) for h in COMPOSE_HOSTS)]
    assert not named, f"settings still naming compose's servers: {named}"
    return env


def command(service: Mapping[str, Any], port: int) -> list[str]:
    argv = [str(word) for word in service["command"]]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = LOOPBACK
    return argv


def healthcheck(service: Mapping[str, Any], port: int) -> dict[str, Any]:
    check = service["healthcheck"]
    test = [str(word).replace(f":{SERVICE_PORT}/", f":{port}/") for word in check["test"]]
    assert test != check["test"], f"the healthcheck does not poll port {SERVICE_PORT}: {test}"
    return {
        "test": test,
        "interval": nanoseconds(check["interval"]),
        "timeout": nanoseconds(check["timeout"]),
        "retries": int(check["retries"]),
        "start_period": nanoseconds(check["start_period"]),
    }


def write_secrets(service: Mapping[str, Any], stack_env: Mapping[str, str], folder: Path) -> Path:
    """The service's ``/run/secrets``, readable by the image's unprivileged user."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for target in mounted_secrets(service):
        path = folder / target
        path.write_text(stack_secret(target, stack_env))
        path.chmod(0o444)
    return folder


_VOLUME = re.compile(r"^(?P<host>\$\{[^}]*\}|[^:]+):(?P<target>[^:]+)(?::(?P<mode>\w+))?$")


def volumes(service: Mapping[str, Any], secrets: Path, inbox: Path) -> dict[str, dict[str, str]]:
    """Compose's bind mounts with the host side resolved: the contracts folder of this checkout
    for the contracts mount, the test's inbox for the inbox mount."""
    mounts = {str(secrets): {"bind": "/run/secrets", "mode": "ro"}}
    for volume in service.get("volumes") or []:
        match = _VOLUME.match(str(volume))
        assert match is not None, f"unexpected volume {volume!r}"
        host = REPO_ROOT / "contracts" if match["target"].endswith("/contracts") else inbox
        mounts[str(host)] = {"bind": match["target"], "mode": match["mode"] or "rw"}
    return mounts


@dataclass
class ServiceContainer:
    """One running service container; ``http`` reaches it as the fault tests reach a service
    of the stack (its log is the engine's log file of the container)."""

    container: Container
    http: StackService

    def health(self) -> str:
        """``healthy``, ``starting``, ``unhealthy``, or the container's state when not running."""
        self.container.reload()
        state = self.container.attrs["State"]
        if state["Status"] != "running":
            return str(state["Status"])
        return str(state.get("Health", {}).get("Status", "none"))

    def pid(self) -> int:
        self.container.reload()
        return int(self.container.attrs["State"]["Pid"])


def run_service(
    client: docker.DockerClient,
    name: str,
    service: Mapping[str, Any],
    *,
    port: int,
    stack_env: Mapping[str, str],
    scratch: Path,
) -> ServiceContainer:
    """Start the service's container on the host network, as compose would (see above)."""
    secrets = write_secrets(service, stack_env, scratch / "secrets")
    inbox = scratch / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    container = client.containers.run(
        service["image"],
        command(service, port),
        name=f"batchpipe-test-{name}-{port}",
        detach=True,
        network_mode="host",
        environment=container_environment(service, stack_env),
        volumes=volumes(service, secrets, inbox),
        healthcheck=healthcheck(service, port),
        stop_signal="SIGTERM",
    )
    container.reload()
    url = f"http://{LOOPBACK}:{port}"
    http = StackService(
        name, url, Path(container.attrs["LogPath"]), stack_env["BATCHPIPE_API_TOKEN"]
    )
    return ServiceContainer(container, http)
