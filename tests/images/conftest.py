"""Fixtures of the image tests: the engine, the stand-in base images, the service images built
from ``services/Dockerfile``, and their containers running in place of the stack's own sink.

The containers join the stack's consumer group (``batchpipe-pg-sink``, compose's default), so
the stack's own sink replicas are stopped while they run: every chunk of a batch is then loaded
by the container, and a new group never replays the topic's history. The stack's uploader and
s3-producer keep running beside the containers (other ports). Everything is module-scoped:
after the tests the containers are removed, the stack is restored (its sink replicas back)
and a daemon the tests started is stopped, before any other test package runs.

The build cache keeps only what this run's builds used: with vfs every cached step is a whole
copy of its file system (~0.5 GB), and keeping every run's steps filled 64 GB of disk in a day
of test runs until the S3 server turned read-only (SeaweedFS stops writing under 1% free).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
from docker.errors import APIError, ImageNotFound

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import services
from tests.faults.stack import StackControl
from tests.images.containers import SERVICES, ServiceContainer, build_image, run_service
from tests.images.engine import Engine, engine
from tests.images.standins import ensure_standins
from tests.sink.conftest import free_port


@pytest.fixture(scope="module")
def images_state() -> Path:
    """Build logs and dockerd's log: ``<stack state>/images``."""
    state = Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack")) / "images"
    state.mkdir(parents=True, exist_ok=True)
    return state


@pytest.fixture(scope="module")
def container_engine(images_state: Path) -> Iterator[Engine]:
    with engine(images_state) as running:
        yield running


@pytest.fixture(scope="module")
def builds_began() -> float:
    """When this run's image builds began (Unix time)."""
    return time.time()


@pytest.fixture(scope="module")
def service_images(
    container_engine: Engine, images_state: Path, builds_began: float
) -> dict[str, str]:
    """``{compose service: image}``, built with BuildKit from compose's ``build:``."""
    with (images_state / "standins.log").open("a") as log:
        ensure_standins(container_engine.cli, report=lambda line: print(line, file=log, flush=True))
    compose = services()
    images = {}
    for name in SERVICES:
        before = image_id(container_engine.client, compose[name]["image"])
        build_log = images_state / f"build-{name}.log"
        images[name] = build_image(container_engine.cli, compose[name], build_log)
        if before not in (None, image_id(container_engine.client, images[name])):
            # the image this build replaces: with vfs every layer is a whole copy, keep none
            with contextlib.suppress(APIError):
                container_engine.client.images.remove(before)
    keep_only_recent_build_cache(container_engine.client, time.time() - builds_began)
    return images


BUILD_CACHE_SKEW_S = 60
"""A cached step last used this long before the builds began is still kept (clock skew)."""


def keep_only_recent_build_cache(client: docker.DockerClient, builds_took_s: float) -> None:
    """Prunes every build cache record not used by the builds that just ran (BuildKit's
    ``until`` keeps the records last used within the duration)."""
    keep = int(builds_took_s) + BUILD_CACHE_SKEW_S
    client.api.prune_builds(filters={"until": f"{keep}s"}, all=True)


def image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except ImageNotFound:
        return None


@pytest.fixture(scope="module")
def control(stack_env: dict[str, str]) -> StackControl:
    return StackControl(stack_env["BATCHPIPE_API_TOKEN"])


def stop_stack_sinks(control: StackControl) -> None:
    for replica in range(1, control.config.sink_replicas + 1):
        pid = control.sink_pid(replica)
        if pid is not None:
            control.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def containers(
    container_engine: Engine,
    service_images: dict[str, str],
    stack_env: dict[str, str],
    control: StackControl,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, ServiceContainer]]:
    compose = services()
    running: dict[str, ServiceContainer] = {}
    control.restore()
    stop_stack_sinks(control)
    try:
        for name in SERVICES:
            running[name] = run_service(
                container_engine.client,
                name,
                compose[name],
                port=free_port(),
                stack_env=stack_env,
                scratch=tmp_path_factory.mktemp(f"container-{name}"),
            )
        yield running
    finally:
        # at once: with the vfs driver, removing a container deletes a whole copy of its image
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda s: s.container.remove(force=True), running.values()))
        control.restore()
