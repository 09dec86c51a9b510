"""The container engine the image tests use: a running Docker daemon, or one started for them.

``engine(state_dir)`` yields a ``docker.DockerClient`` and the path of a Docker CLI that builds
with BuildKit. When no daemon answers, it starts Debian's ``dockerd`` (``scripts/setup.sh``
installs ``docker.io``; root only) with the vfs storage driver and no bridge (the tests run every
container on the host network), and stops it again at the end. A daemon that was already
running is used as it is and left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

from tests.sink.conftest import wait_for

DOCKERD_ARGS = ["--storage-driver=vfs", "--bridge=none", "--iptables=false", "--ip6tables=false"]
BUILDX_CLI_MAJOR = 23
"""From Docker 23 on, the CLI builds with BuildKit only through the buildx plugin."""


class EngineError(RuntimeError):
    """No engine to run the image tests with (the message says what is missing)."""


@dataclass(frozen=True)
class Engine:
    client: docker.DockerClient
    cli: str
    """a Docker CLI whose ``docker build`` uses BuildKit against this daemon"""
    started: bool
    """whether the tests started the daemon (and stop it at the end)"""


def _answers() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException:
        return None
    return client


def buildkit_cli() -> str:
    """A Docker CLI that builds with BuildKit: one with the buildx plugin, or a client older
    than 23 (Debian's ``docker.io`` 20.10 at ``/usr/bin/docker``), which has BuildKit built in."""
    candidates = [c for c in (shutil.which("docker"), "/usr/bin/docker") if c]
    for cli in dict.fromkeys(candidates):
        if not Path(cli).exists():
            continue
        if subprocess.run([cli, "buildx", "version"], capture_output=True).returncode == 0:
            return cli
        version = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout.strip()
        if version and int(version.split(".")[0]) < BUILDX_CLI_MAJOR:
            return cli
    raise EngineError(
        f"no Docker CLI that builds with BuildKit among {candidates}: install the buildx plugin "
        "or Debian's docker.io (scripts/setup.sh images)"
    )


@contextmanager
def engine(state_dir: Path) -> Iterator[Engine]:
    client = _answers()
    if client is not None:
        yield Engine(client, buildkit_cli(), started=False)
        return
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise EngineError("no Docker daemon runs and dockerd is not installed (scripts/setup.sh)")
    if os.geteuid() != 0:
        raise EngineError("no Docker daemon runs, and starting dockerd needs root")
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "dockerd.log").open("ab")
    process = subprocess.Popen([dockerd, *DOCKERD_ARGS], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or _answers() is not None, 120, "dockerd")
        client = _answers()
        if client is None:
            raise EngineError(f"dockerd exited {process.returncode}: see {state_dir}/dockerd.log")
        yield Engine(client, buildkit_cli(), started=True)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
