"""The service images, built from ``services/Dockerfile`` unchanged, run for real: healthy,
ready, unprivileged, and one bank batch through uploader -> s3-producer -> pg-sink containers
with exact counts, also when the sink container is killed mid-batch and started again.

Needs an engine (``tests.images.engine``: one is started as root when none runs) and the local
stack (``make test-images`` starts both). What this proves and what not: docs/docker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.docker.model import SERVICES_DOCKERFILE, Dockerfile, services
from tests.faults.pipeline import (
    BANK,
    applied_chunks,
    assert_exact,
    backends_waiting_for,
    batch_id_of,
    chunk_held,
    finish_batch,
    start_batch,
    trigger,
    upload,
)
from tests.images.conftest import BUILD_CACHE_SKEW_S
from tests.images.containers import SERVICES, ServiceContainer, nanoseconds
from tests.images.engine import Engine
from tests.images.standins import LABEL, image_labels, standins
from tests.producer.planted import bank_sample
from tests.sink.checks import wait_until
from tests.sink.conftest import wait_for
from tests.support.consumer_group import group_settled

pytestmark = [pytest.mark.integration, pytest.mark.build, pytest.mark.timeout(3600)]

ROWS = 120_000
CHUNK_ROWS = 10_000  # the s3-producer's default: the batch has about ROWS / CHUNK_ROWS chunks
SEED = int(os.environ.get("BATCHPIPE_IMAGES_SEED", random.randrange(1 << 30)))
RUNTIME_USER = Dockerfile.parse(SERVICES_DOCKERFILE).final.all("USER")[-1]


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A fresh sample each run (an uploaded file seen before is deduplicated into its old
    batch); reproducible with ``BATCHPIPE_IMAGES_SEED`` (printed: a failure shows it)."""
    print(f"BATCHPIPE_IMAGES_SEED={SEED}")
    return random.Random(f"{SEED}:{request.node.name}")


def health_deadline(service: str) -> float:
    """How long compose waits before a container counts as unhealthy: start period, then
    ``retries`` failed checks ``interval`` apart (each up to ``timeout``)."""
    check = services()[service]["healthcheck"]
    periods = nanoseconds(check["start_period"]) + (int(check["retries"]) + 1) * (
        nanoseconds(check["interval"]) + nanoseconds(check["timeout"])
    )
    return periods / 1e9


def wait_healthy(name: str, service: ServiceContainer) -> None:
    settled = ("healthy", "unhealthy", "exited")
    with contextlib.suppress(AssertionError):  # the status below says what it was instead
        wait_for(lambda: service.health() in settled, health_deadline(name), name, every=1)
    status = service.health()
    assert status == "healthy", f"{name} is {status}:\n{service.http.log_tail()}"


def test_stand_ins_are_the_dockerfiles_base_images(
    container_engine: Engine, service_images: dict[str, str]
) -> None:
    """Every external ``FROM`` of the Dockerfile is a local image: a stand-in of the current
    recipe, or the upstream image itself when someone pulled it."""
    for standin in standins():
        labels = image_labels(container_engine.cli, standin.tag)
        assert labels is not None, f"no image {standin.tag}"
        assert labels.get(LABEL) in (standin.digest, None), f"{standin.tag} is an old stand-in"


def test_build_cache_keeps_only_the_steps_this_run_used(
    container_engine: Engine, service_images: dict[str, str], builds_began: float
) -> None:
    """With vfs each cached step is a whole file system: steps of older builds are pruned, the
    ones these builds used stay, with the steps they were built on (the next build of unchanged
    sources reuses them)."""
    records = container_engine.client.df()["BuildCache"] or []
    assert records, "the builds left no cache: every build would start from scratch"
    parents = {record["ID"]: _parents(record) for record in records}
    kept = {
        record["ID"]
        for record in records
        if _unix_time(record["LastUsedAt"]) >= builds_began - BUILD_CACHE_SKEW_S
    }
    pending = list(kept)
    while pending:
        for parent in parents.get(pending.pop(), ()):
            if parent not in kept:
                kept.add(parent)
                pending.append(parent)
    stale = [record for record in records if record["ID"] not in kept]
    assert stale == [], f"{len(stale)} cached steps of older builds are kept"


def _parents(record: dict[str, Any]) -> list[str]:
    """A cache record's parents: ``Parents`` (API 1.42+) or ``Parent``."""
    parents = record.get("Parents") or [record.get("Parent")]
    return [str(parent) for parent in parents if parent]


def _unix_time(rfc3339: str) -> float:
    """Docker's nanosecond RFC 3339 time (``2026-12-01T04:52:53.429784886Z``) as Unix time."""
    microseconds = re.sub(r"(\.\d{6})\d+", r"\1", rfc3339)  # Python parses up to 6 digits
    return datetime.fromisoformat(microseconds.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("name", SERVICES)
def test_container_turns_healthy_and_ready(
    name: str, containers: dict[str, ServiceContainer]
) -> None:
    service = containers[name]
    wait_healthy(name, service)
    response = service.http.get("/readyz")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", SERVICES)
def test_container_runs_as_the_unprivileged_user(
    name: str, containers: dict[str, ServiceContainer]
) -> None:
    """The image's ``USER`` is configured, and the process really has that uid and gid."""
    service = containers[name]
    assert service.container.image.attrs["Config"]["User"] == RUNTIME_USER
    uid, gid = RUNTIME_USER.split(":")
    status = Path(f"/proc/{service.pid()}/status").read_text().splitlines()
    ids = {line.split(":")[0]: line.split()[1:] for line in status if line[:4] in ("Uid:", "Gid:")}
    assert ids == {"Uid": [uid] * 4, "Gid": [gid] * 4}
    assert uid != "0"


def ready(containers: dict[str, ServiceContainer]) -> None:
    for name, service in containers.items():
        wait_healthy(name, service)
    sink = containers["pg-sink"].http
    wait_for(lambda: group_settled([sink], BANK.contract.topic), 120, "the sink's assignment")


async def test_a_bank_batch_goes_through_the_containers(
    containers: dict[str, ServiceContainer], admin_dsn: str, rng: random.Random
) -> None:
    await asyncio.to_thread(ready, containers)
    uploader, producer, sink = (containers[name].http for name in SERVICES)
    sample = bank_sample(ROWS // 4, seed=rng.randrange(1 << 30))
    stored = await asyncio.to_thread(upload, uploader, sample.csv_bytes, "images.csv")
    assert not stored["deduplicated"], "a file of an earlier run: the batch would be old"
    batch_id = (await asyncio.to_thread(trigger, producer, stored["s3_uri"]))["batch_id"]
    result, ledger = await finish_batch(producer, sink, admin_dsn, sample, batch_id)
    assert_exact(result, ledger)
    # each container did its part: its log (structlog) names the object or the batch
    logged = {name: containers[name].container.logs().decode(errors="replace") for name in SERVICES}
    assert stored["s3_uri"] in logged["uploader"]
    assert batch_id in logged["s3-producer"]
    assert batch_id in logged["pg-sink"]


async def test_sink_container_killed_mid_batch_and_started_again(
    containers: dict[str, ServiceContainer], admin_dsn: str, rng: random.Random
) -> None:
    """The sink is killed while it waits to apply a chunk of the batch: that chunk is claimed
    by the test in an open ledger transaction (``chunk_held``), so the kill lands mid-batch
    however fast the sink is. The claim is rolled back after the kill."""
    await asyncio.to_thread(ready, containers)
    uploader, producer, sink = (containers[name].http for name in SERVICES)
    sample = bank_sample(ROWS, seed=rng.randrange(1 << 30))
    chunks = -(-len(sample.good) // CHUNK_ROWS)
    batch_id = batch_id_of(sample.csv_bytes)
    victim = containers["pg-sink"].container
    async with chunk_held(admin_dsn, batch_id, rng.randrange(1, chunks)) as holder:
        started = await asyncio.to_thread(start_batch, uploader, producer, sample, "kill.csv")
        assert started == batch_id

        async def sink_waits() -> bool:
            return await backends_waiting_for(admin_dsn, holder) > 0

        await wait_until(sink_waits, 240, "the sink waiting for the held chunk")
        victim.kill()  # SIGKILL, as `docker kill`
        victim.wait(timeout=60)
        applied_at_kill = await applied_chunks(admin_dsn, batch_id)
    victim.start()
    await asyncio.to_thread(ready, containers)
    result, ledger = await finish_batch(producer, sink, admin_dsn, sample, batch_id)
    assert applied_at_kill < ledger["expected"]["chunks"], "the batch was loaded before the kill"
    assert_exact(result, ledger)
    assert ledger["loaded"]["chunks"] == ledger["expected"]["chunks"]
