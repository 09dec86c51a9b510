"""``BatchDrainedSensor``: when it defers, what with, and how it ends on the trigger's events.

The broker-facing tests use the stack's real Kafka (``kafka_batches``); the sensor's
``execute`` is synchronous and runs its check with ``asyncio.run``, so they call it in a
thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("airflow", reason="runs in .venvs/airflow: make test-orchestration")

from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from batchpipe_airflow.lag import targets_from_manifest
from batchpipe_airflow.sensors import BatchDrainedSensor
from batchpipe_airflow.triggers import BatchDrainedTrigger
from tests.orchestration.kafka_batches import Batchpipe

MANIFEST = {
    "batch_id": "bank_transactions-v1-abc",
    "data": {"topic": "bank_transactions", "offsets": {"0": 10, "5": 3}},
    "dlq": {"topic": "bank_transactions.dlq", "offsets": {}},
}


def sensor(
    manifest: dict[str, Any] = MANIFEST,
    bootstrap: str = "127.0.0.1:1",
    group: str = "batchpipe-pg-sink",
) -> BatchDrainedSensor:
    return BatchDrainedSensor(
        task_id="wait_for_sink",
        manifest=manifest,
        bootstrap_servers=bootstrap,
        group_id=group,
        timeout=600,
        poll_interval=4,
    )


def test_with_no_broker_to_ask_it_defers_with_the_manifest_partitions_and_a_deadline() -> None:
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchDrainedTrigger)
    assert trigger.targets == [["bank_transactions", 0, 10], ["bank_transactions", 5, 3]]
    assert trigger.group_id == "batchpipe-pg-sink"
    assert before + 600 <= trigger.deadline <= time.time() + 600
    # the sensor has just checked: the trigger does not fetch again at once
    assert trigger.initial_delay == 4
    assert deferred.value.method_name == "execute_complete"


@pytest.mark.integration
async def test_a_batch_the_sink_already_committed_succeeds_without_deferring(
    pipe: Batchpipe,
) -> None:
    manifest = await pipe.produce_batch("batch-done", chunks=4, dead_letters=1)
    await pipe.commit_past(manifest)
    result = await asyncio.to_thread(
        sensor(manifest, pipe.bootstrap, pipe.group).execute, context={}
    )
    assert result["status"] == "drained"
    assert result["batch_id"] == "batch-done"
    assert result["remaining"] == 0
    assert {(p["topic"], p["partition"]) for p in result["partitions"]} == {
        (t.topic, t.partition) for t in targets_from_manifest(manifest)
    }


@pytest.mark.integration
async def test_a_batch_not_yet_committed_defers(pipe: Batchpipe) -> None:
    manifest = await pipe.produce_batch("batch-pending", chunks=2, dead_letters=1)
    await pipe.commit_past(manifest, only_topic=pipe.dlq)
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(sensor(manifest, pipe.bootstrap, pipe.group).execute, context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchDrainedTrigger)
    assert trigger.group_id == pipe.group
    assert trigger.targets == [t.as_list() for t in targets_from_manifest(manifest)]


def test_a_drained_event_returns_it_and_a_timeout_fails_with_the_trigger_message() -> None:
    drained = {"status": "drained", "batch_id": "b", "remaining": 0, "partitions": []}
    assert sensor().execute_complete({}, drained) == drained
    with pytest.raises(AirflowSensorTimeout, match="did not commit past batch b"):
        sensor().execute_complete(
            {}, {"status": "timeout", "message": "sink group 'g' did not commit past batch b"}
        )
