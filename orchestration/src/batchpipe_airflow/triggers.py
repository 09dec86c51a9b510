"""``BatchDrainedTrigger``: fires when the sink's consumer group has committed past a batch.

Runs in the triggerer. After ``initial_delay`` seconds, then every ``poll_interval``, it
fetches the group's committed offsets for the batch's partitions (``lag.batch_progress``),
logs what remains, and fires one event: ``drained`` once every partition is past the batch's
last offset, or ``timeout`` at the deadline (an absolute time, so a triggerer restart does not
extend it). A broker that cannot be reached is logged and retried until the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.errors import KafkaError
from airflow.triggers.base import BaseTrigger, TriggerEvent

from batchpipe_airflow.lag import BatchProgress, admin_for, batch_progress, targets_from_lists


class BatchDrainedTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        batch_id: str,
        bootstrap_servers: str,
        group_id: str,
        targets: list[list[Any]],
        deadline: float,
        poll_interval: float = 5.0,
        initial_delay: float = 0.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.batch_id = batch_id
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.targets = targets
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.initial_delay = initial_delay

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_id": self.batch_id,
                "bootstrap_servers": self.bootstrap_servers,
                "group_id": self.group_id,
                "targets": self.targets,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "initial_delay": self.initial_delay,
            },
        )

    def _timeout_message(self, progress: BatchProgress | None, last_error: str | None) -> str:
        where = progress.describe() if progress is not None else "no offsets could be read"
        error = f"; last error: {last_error}" if last_error else ""
        return (
            f"sink group {self.group_id!r} did not commit past batch {self.batch_id} before the "
            f"deadline: {where}{error}"
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        targets = targets_from_lists(self.targets)
        admin = admin_for(self.bootstrap_servers)
        started = False
        progress: BatchProgress | None = None
        last_error: str | None = None
        # the sensor checked just before deferring (see sensors.py for why not to fire at once)
        await asyncio.sleep(min(self.initial_delay, max(0.0, self.deadline - time.time())))
        try:
            while True:
                try:
                    if not started:
                        await admin.start()
                        started = True
                    progress = await batch_progress(admin, self.group_id, targets)
                    last_error = None
                except (KafkaError, OSError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    self.log.warning("batch %s: cannot read offsets: %s", self.batch_id, last_error)
                    # start over with a fresh client on the next poll
                    await admin.close()
                    admin, started = admin_for(self.bootstrap_servers), False
                if progress is not None and progress.drained:
                    self.log.info("batch %s: %s", self.batch_id, progress.describe())
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {"status": "drained", "batch_id": self.batch_id, **progress.as_dict()}
                    )
                    return
                if progress is not None:
                    self.log.info("batch %s: waiting, %s", self.batch_id, progress.describe())
                if time.time() >= self.deadline:
                    payload: dict[str, Any] = {
                        "status": "timeout",
                        "batch_id": self.batch_id,
                        "message": self._timeout_message(progress, last_error),
                    }
                    if progress is not None:
                        payload.update(progress.as_dict())
                    yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
                    return
                wait = min(self.poll_interval, max(0.0, self.deadline - time.time()))
                await asyncio.sleep(wait)  # the interval between two offset fetches
        finally:
            if started:
                await admin.close()
