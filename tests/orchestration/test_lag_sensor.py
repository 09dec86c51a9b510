"""``BatchDrainedSensor``: what it defers with, and how it ends on the trigger's events."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("airflow", reason="runs in .venvs/airflow: make test-orchestration")

from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from batchpipe_airflow.sensors import BatchDrainedSensor
from batchpipe_airflow.triggers import BatchDrainedTrigger

MANIFEST = {
    "batch_id": "bank_transactions-v1-abc",
    "data": {"topic": "bank_transactions", "offsets": {"0": 10, "5": 3}},
    "dlq": {"topic": "bank_transactions.dlq", "offsets": {}},
}


def sensor(**kwargs: object) -> BatchDrainedSensor:
    return BatchDrainedSensor(
        task_id="wait_for_sink",
        manifest=MANIFEST,
        bootstrap_servers="127.0.0.1:1",
        group_id="batchpipe-pg-sink",
        timeout=600,
        **kwargs,
    )


def test_execute_defers_to_the_trigger_with_the_manifest_partitions_and_a_deadline() -> None:
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchDrainedTrigger)
    assert trigger.targets == [["bank_transactions", 0, 10], ["bank_transactions", 5, 3]]
    assert trigger.group_id == "batchpipe-pg-sink"
    assert before + 600 <= trigger.deadline <= time.time() + 600
    assert deferred.value.method_name == "execute_complete"


def test_a_drained_event_returns_it_and_a_timeout_fails_with_the_trigger_message() -> None:
    drained = {"status": "drained", "batch_id": "b", "remaining": 0, "partitions": []}
    assert sensor().execute_complete({}, drained) == drained
    with pytest.raises(AirflowSensorTimeout, match="did not commit past batch b"):
        sensor().execute_complete(
            {}, {"status": "timeout", "message": "sink group 'g' did not commit past batch b"}
        )
