"""``BatchDrainedSensor``: wait, deferred, until the sink has applied a batch.

Given the batch's manifest (the s3-producer's ``GET /v1/runs/{id}`` returns it when the run
succeeds), it checks once and, unless the sink has already applied the batch, defers to
``BatchDrainedTrigger``, which watches only the partitions and offsets the manifest names.
With ``deferrable=False`` it pokes with the same check.

Checking before deferring is not only cheaper. A trigger that fires within a second or two of
its deferral can get the resumed task failed by Airflow's scheduler ("executor reported that
the task instance finished with state success, but the task instance's state attribute is
running": apache/airflow#71580 and #72716, open in 3.3). So the sensor returns at once when
the batch is already drained, and the trigger's first fetch waits one poll interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aiokafka.errors import KafkaError
from airflow.sdk import BaseHook, BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from batchpipe_airflow.lag import (
    BatchProgress,
    PartitionTarget,
    admin_for,
    batch_progress,
    targets_from_manifest,
)
from batchpipe_airflow.triggers import BatchDrainedTrigger

DEFAULT_SINK_GROUP = "batchpipe-pg-sink"


class BatchDrainedSensor(BaseSensorOperator):
    """Succeeds when the sink group has committed past every offset of ``manifest``.

    :param manifest: the batch's manifest as JSON (``data`` and ``dlq`` offsets per partition)
    :param kafka_conn_id: connection whose extra holds ``bootstrap_servers`` (else host:port)
        and ``group_id`` (the pg-sink's consumer group)
    :param bootstrap_servers: Kafka bootstrap servers, instead of the connection's
    :param group_id: the pg-sink's consumer group, instead of the connection's
    :param poll_interval: seconds between two offset fetches
    """

    template_fields: Sequence[str] = ("manifest", "bootstrap_servers", "group_id")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        manifest: Mapping[str, Any] | str,
        kafka_conn_id: str = "batchpipe_kafka",
        bootstrap_servers: str | None = None,
        group_id: str | None = None,
        poll_interval: float = 5.0,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.manifest = manifest
        self.kafka_conn_id = kafka_conn_id
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _manifest(self) -> Mapping[str, Any]:
        if not isinstance(self.manifest, Mapping):
            raise AirflowException(f"manifest must be a mapping, got {type(self.manifest)!r}")
        return self.manifest

    def _kafka(self) -> tuple[str, str]:
        """Bootstrap servers and group id: explicit arguments win over the connection."""
        if self.bootstrap_servers and self.group_id:
            return self.bootstrap_servers, self.group_id
        conn = BaseHook.get_connection(self.kafka_conn_id)
        extra = conn.extra_dejson
        bootstrap = self.bootstrap_servers or extra.get("bootstrap_servers")
        if not bootstrap:
            bootstrap = f"{conn.host}:{conn.port}"
        group = self.group_id or extra.get("group_id") or DEFAULT_SINK_GROUP
        return str(bootstrap), str(group)

    def _progress(
        self, bootstrap: str, group: str, targets: list[PartitionTarget]
    ) -> BatchProgress:
        """One fetch of the group's committed offsets for the batch's partitions."""

        async def fetch() -> BatchProgress:
            admin = admin_for(bootstrap)
            try:
                await admin.start()
                return await batch_progress(admin, group, targets)
            finally:
                await admin.close()

        return asyncio.run(fetch())

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        manifest = self._manifest()
        targets = targets_from_manifest(manifest)
        bootstrap, group = self._kafka()
        try:
            progress = self._progress(bootstrap, group, targets)
        except (KafkaError, OSError) as exc:
            # the trigger retries until the deadline; say why this check could not decide
            self.log.warning("cannot read committed offsets yet: %s: %s", type(exc).__name__, exc)
        else:
            self.log.info("batch %s: %s", manifest.get("batch_id"), progress.describe())
            if progress.drained:
                return {
                    "status": "drained",
                    "batch_id": str(manifest.get("batch_id")),
                    **progress.as_dict(),
                }
        self.log.info(
            "waiting for group %s to commit past batch %s on %d partitions",
            group,
            manifest.get("batch_id"),
            len(targets),
        )
        timeout = float(self.timeout) if self.timeout is not None else 3600.0
        self.defer(
            trigger=BatchDrainedTrigger(
                batch_id=str(manifest.get("batch_id")),
                bootstrap_servers=bootstrap,
                group_id=group,
                targets=[t.as_list() for t in targets],
                deadline=time.time() + timeout,
                poll_interval=self.poll_interval,
                # this sensor has just checked: the trigger's first fetch is one interval later
                initial_delay=self.poll_interval,
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
        bootstrap, group = self._kafka()
        progress = self._progress(bootstrap, group, targets_from_manifest(manifest))
        self.log.info("batch %s: %s", manifest.get("batch_id"), progress.describe())
        return progress.drained
