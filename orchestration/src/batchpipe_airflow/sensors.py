"""``BatchDrainedSensor``: wait, deferred, until the sink has applied a batch.

Given the batch's manifest (the s3-producer's ``GET /v1/runs/{id}`` returns it when the run
succeeds), it defers to ``BatchDrainedTrigger``, which watches only the partitions and
offsets the manifest names. With ``deferrable=False`` it pokes with the same check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from batchpipe_airflow.lag import admin_for, batch_progress, targets_from_manifest
from batchpipe_airflow.triggers import BatchDrainedTrigger

DEFAULT_SINK_GROUP = "batchpipe-pg-sink"


class BatchDrainedSensor(BaseSensorOperator):
    """Succeeds when the sink group has committed past every offset of ``manifest``.

    :param manifest: the batch's manifest as JSON (``data`` and ``dlq`` offsets per partition)
    :param bootstrap_servers: Kafka bootstrap servers
    :param group_id: the pg-sink's consumer group
    :param poll_interval: seconds between two offset fetches
    """

    template_fields: Sequence[str] = ("manifest", "bootstrap_servers", "group_id")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        manifest: Mapping[str, Any] | str,
        bootstrap_servers: str,
        group_id: str = DEFAULT_SINK_GROUP,
        poll_interval: float = 5.0,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.manifest = manifest
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _manifest(self) -> Mapping[str, Any]:
        if not isinstance(self.manifest, Mapping):
            raise AirflowException(f"manifest must be a mapping, got {type(self.manifest)!r}")
        return self.manifest

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        manifest = self._manifest()
        targets = targets_from_manifest(manifest)
        self.log.info(
            "waiting for group %s to commit past batch %s on %d partitions",
            self.group_id,
            manifest.get("batch_id"),
            len(targets),
        )
        timeout = float(self.timeout) if self.timeout is not None else 3600.0
        self.defer(
            trigger=BatchDrainedTrigger(
                batch_id=str(manifest.get("batch_id")),
                bootstrap_servers=self.bootstrap_servers,
                group_id=self.group_id,
                targets=[t.as_list() for t in targets],
                deadline=time.time() + timeout,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            # a backstop only: the trigger reports its own, clearer timeout first
            timeout=timedelta(seconds=timeout + 5 * self.poll_interval + 60),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "drained":
            self.log.info("batch %s applied by the sink", event.get("batch_id"))
            return event
        if status == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        raise AirflowException(f"unexpected event from the lag trigger: {event!r}")

    def poke(self, context: Context) -> bool:
        manifest = self._manifest()
        targets = targets_from_manifest(manifest)

        async def check() -> bool:
            admin = admin_for(self.bootstrap_servers)
            await admin.start()
            try:
                progress = await batch_progress(admin, self.group_id, targets)
            finally:
                await admin.close()
            self.log.info("batch %s: %s", manifest.get("batch_id"), progress.describe())
            return progress.drained

        return asyncio.run(check())
