"""Runs: one production of an S3 object into Kafka, tracked in memory by batch id.

The registry is per process: it answers ``GET /v1/runs/{batch_id}`` and makes a second trigger
of a queued, running or succeeded batch return the existing run. The durable record of a batch
is the pg-sink's ledger in PostgreSQL (fed by the manifest), not this registry. At most
``max_concurrent`` runs produce at once; the others wait in ``queued``. A running run that
makes no progress (bytes read, rows parsed, chunks sent) for ``stall_timeout_s`` is cancelled
and fails with that reason, instead of hanging; a new trigger runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Literal

import structlog

from batchpipe_common.contracts import Contract
from batchpipe_common.logging import bound_batch
from batchpipe_common.wire import Manifest
from batchpipe_producer import metrics
from batchpipe_producer.chunks import Progress
from batchpipe_producer.errors import RunCancelled, RunStalled, UnreadableSource
from batchpipe_producer.formats import SourceFormat

RunState = Literal["queued", "running", "succeeded", "failed"]
SHUTDOWN_REASON = "shutdown"
KEEP_FINISHED = 1000
"""Finished runs remembered; older ones are forgotten (the ledger keeps the durable record)."""

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Run:
    batch_id: str
    contract: Contract
    bucket: str
    key: str
    sha256: str
    format: SourceFormat
    state: RunState = "queued"
    progress: Progress = field(default_factory=Progress)
    manifest: Manifest | None = None
    error: str | None = None
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def source_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


Executor = Callable[[Run], Awaitable[Manifest]]


class RunRegistry:
    def __init__(self, execute: Executor, max_concurrent: int, stall_timeout_s: float) -> None:
        self._execute = execute
        self._stall_timeout_s = stall_timeout_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._runs: dict[str, Run] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def get(self, batch_id: str) -> Run | None:
        return self._runs.get(batch_id)

    def trigger(self, run: Run) -> tuple[Run, bool]:
        """Start ``run`` unless its batch is queued, running or succeeded; (run, started)."""
        existing = self._runs.get(run.batch_id)
        if existing is not None and existing.state != "failed":
            return existing, False
        self._runs[run.batch_id] = run
        task = asyncio.create_task(self._drive(run), name=f"run {run.batch_id}")
        self._tasks[run.batch_id] = task
        task.add_done_callback(partial(self._forget_task, run.batch_id))
        self._forget_old()
        return run, True

    def _forget_task(self, batch_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(batch_id, None)

    def _forget_old(self) -> None:
        finished = [r for r in self._runs.values() if r.finished]
        excess = len(finished) - KEEP_FINISHED
        if excess > 0:
            for run in sorted(finished, key=lambda r: r.created_at)[:excess]:
                del self._runs[run.batch_id]

    async def _drive(self, run: Run) -> None:
        with bound_batch(run.batch_id, dataset=run.contract.name):
            metrics.RUNS_QUEUED.inc()
            queued = True
            started = time.perf_counter()
            try:
                async with self._slots:
                    metrics.RUNS_QUEUED.dec()
                    queued = False
                    if run.cancel.is_set():
                        raise RunCancelled("the service is shutting down")
                    run.state, run.started_at = "running", _now()
                    started = time.perf_counter()
                    log.info("run started", source_uri=run.source_uri, format=run.format)
                    metrics.RUNS_ACTIVE.inc()
                    try:
                        run.manifest = await self._execute_watched(run)
                    finally:
                        metrics.RUNS_ACTIVE.dec()
                self._finish(run, "succeeded", None, started)
            except RunCancelled:
                self._finish(run, "failed", SHUTDOWN_REASON, started)
            except asyncio.CancelledError:
                self._finish(run, "failed", SHUTDOWN_REASON, started)
                raise
            except (UnreadableSource, RunStalled) as exc:
                self._finish(run, "failed", str(exc), started)
            except Exception as exc:
                log.exception("run crashed")
                self._finish(run, "failed", f"{type(exc).__name__}: {exc}", started)
            finally:
                if queued:
                    metrics.RUNS_QUEUED.dec()

    async def _execute_watched(self, run: Run) -> Manifest:
        """``execute(run)``, cancelled with ``RunStalled`` when its progress stops moving."""
        loop = asyncio.get_running_loop()
        limit = self._stall_timeout_s
        try:
            async with asyncio.timeout(limit) as timer:
                watcher = asyncio.create_task(_extend_while_moving(run, timer, limit, loop))
                try:
                    return await self._execute(run)
                finally:
                    watcher.cancel()
        except TimeoutError as exc:
            if not timer.expired():
                raise
            run.cancel.set()  # the parsing thread stops at its next chunk
            metrics.RUNS_STALLED.inc()
            raise RunStalled(
                f"no progress for {limit:g} s (read {run.progress.bytes_read} of "
                f"{run.progress.bytes_total} bytes, {run.progress.chunks_sent} chunks sent): "
                "S3 or Kafka stopped answering; trigger the run again"
            ) from exc

    def _finish(self, run: Run, state: RunState, error: str | None, started: float) -> None:
        run.state, run.error, run.finished_at = state, error, _now()
        took = time.perf_counter() - started
        metrics.RUNS.labels(state=state).inc()
        metrics.RUN_DURATION.labels(dataset=run.contract.name, state=state).observe(took)
        progress = run.progress
        fields = {
            "rows_read": progress.rows_read,
            "rows_valid": progress.rows_valid,
            "rows_rejected": progress.rows_rejected,
            "chunks": progress.chunks_sent,
            "seconds": round(took, 3),
        }
        if state == "succeeded":
            log.info("run succeeded", **fields)
        else:
            log.warning("run failed", error=error, **fields)

    async def shutdown(self, grace: float) -> None:
        """Ask every run to stop, wait up to ``grace`` seconds, then cancel what remains.

        Runs that stop this way end ``failed`` with the reason ``shutdown``: no manifest is
        sent, and a new trigger re-runs them (the sink skips the chunks it already applied).
        """
        tasks = list(self._tasks.values())
        for run in self._runs.values():
            run.cancel.set()
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _extend_while_moving(
    run: Run, timer: asyncio.Timeout, limit: float, loop: asyncio.AbstractEventLoop
) -> None:
    """Push the run's deadline back ``limit`` seconds whenever its progress moves."""
    seen = dataclasses.astuple(run.progress)
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = dataclasses.astuple(run.progress)
            if now != seen:
                seen = now
                timer.reschedule(loop.time() + limit)
