"""``up``, ``down``, ``status`` and ``scale`` over every component of the local stack."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from batchpipe_cli.stack.activity import ACTIVITY
from batchpipe_cli.stack.component import Component, ComponentStatus
from batchpipe_cli.stack.config import S3Backend, StackConfig
from batchpipe_cli.stack.envfile import write_env_file
from batchpipe_cli.stack.kafka import Kafka
from batchpipe_cli.stack.postgres import Postgres
from batchpipe_cli.stack.process import StackError, alive_pid, stop_pid
from batchpipe_cli.stack.s3 import S3Server
from batchpipe_cli.stack.services import SERVICE_SPECS, Service, service_components

Report = Callable[[str], None]
_REPORT_LOCK = threading.Lock()


def servers(config: StackConfig) -> list[Component]:
    return [Postgres(config), Kafka(config), S3Server(config)]


def components(config: StackConfig) -> list[Component]:
    services = service_components(config) if config.services_enabled else []
    return [*servers(config), *services]


def _prepare(config: StackConfig) -> None:
    for path in (config.state_dir, config.logs_dir, config.pids_dir, config.inbox_dir):
        path.mkdir(parents=True, exist_ok=True)
    config.state_dir.chmod(0o755)
    config.save()
    write_env_file(config)


def up(
    config: StackConfig,
    *,
    report: Report,
    s3_backend: S3Backend | None = None,
    sink_replicas: int | None = None,
    with_services: bool = True,
    alongside: Sequence[Component] = (),
) -> list[ComponentStatus]:
    """Start what is not running, wait for each to be ready. Running parts are left alone.

    The servers start at once, then the services at once, with ``alongside`` (components that
    need only the servers, such as Airflow for ``batchpipe demo``)."""
    if s3_backend and s3_backend != config.s3_backend:
        S3Server(config).stop()
        config.s3_backend = s3_backend
    if sink_replicas is not None:
        if sink_replicas < 1:
            raise StackError("--sink-replicas must be at least 1")
        config.sink_replicas = sink_replicas
    config.services_enabled = with_services
    _prepare(config)
    services: list[Component] = list(service_components(config)) if with_services else []
    groups = [servers(config), [*services, *alongside]]
    for group in groups:  # the services need the servers; within a group, all start at once
        _start_together(group, report)
    if with_services:
        _stop_extra_sink_replicas(config, report)
    return [p.status() for group in groups for p in group]


def _start_together(parts: list[Component], report: Report) -> None:
    """``ensure_up`` of each part in its own thread; once every part has finished, the first
    failure is raised, after stopping the parts of this group that this call started (a
    port taken by another program fails one part while the others are already up: they are
    not left running behind the error)."""

    def start(part: Component) -> bool:
        with ACTIVITY.starting(part.name):
            started = part.ensure_up()
            took = f" in {ACTIVITY.elapsed():.1f}s" if started else ""
        with _REPORT_LOCK:
            report(f"{part.name}: {'started' + took if started else 'already running'}")
        return started

    if not parts:
        return
    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="stack-up") as pool:
        futures = [pool.submit(start, part) for part in parts]
    failures = [error for f in futures if (error := f.exception()) is not None]
    if failures:
        for part, future in zip(parts, futures, strict=True):
            if future.exception() is None and future.result():
                part.stop()
                report(f"{part.name}: stopped again (another part failed to start)")
        raise failures[0]


def scale_sink(config: StackConfig, replicas: int, report: Report) -> list[ComponentStatus]:
    return [
        s
        for s in up(config, report=report, sink_replicas=replicas)
        if s.component.startswith("pg-sink")
    ]


def _stop_extra_sink_replicas(config: StackConfig, report: Report) -> None:
    spec = next(s for s in SERVICE_SPECS if s.name == "pg-sink")
    replica = config.sink_replicas + 1
    while (config.pids_dir / f"pg-sink-{replica}.pid").exists():
        Service(config, spec, replica).stop()
        report(f"pg-sink-{replica}: stopped (scaled to {config.sink_replicas})")
        replica += 1


def down(config: StackConfig, *, report: Report, wipe: bool = False) -> None:
    """Stop what this stack started (by recorded pid), services first; optionally wipe state."""
    if config.pids_dir.exists():
        for pid_file in sorted(config.pids_dir.glob("pg-sink-*.pid")):
            pid = alive_pid(pid_file, "--port")
            if pid is not None:
                stop_pid(pid, timeout=45)
                report(f"{pid_file.stem}: stopped")
            pid_file.unlink(missing_ok=True)
    for part in reversed([*servers(config), *service_components(config)]):
        if part.pid() is not None:
            part.stop()
            report(f"{part.name}: stopped")
    if wipe and config.state_dir.exists():
        shutil.rmtree(config.state_dir)
        report(f"wiped {config.state_dir}")


def status(config: StackConfig) -> list[ComponentStatus]:
    return [part.status() for part in components(config)]
