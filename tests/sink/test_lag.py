"""``/v1/lag`` reports the group's lag while the sink is paused and zero once it has drained."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import wait_drained, wait_loaded
from tests.sink.conftest import Dataset, SinkFactory
from tests.sink.wire_producer import BankBatch, generated_rows


async def test_lag_while_paused_then_zero_after_drain(
    dataset: Dataset,
    start_sink: SinkFactory,
    producer: AIOKafkaProducer,
    warehouse: asyncpg.Connection,
    endpoints: EndpointSettings,
) -> None:
    sink = start_sink()
    paused = sink.post("/v1/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True

    batch = BankBatch(dataset.contract, generated_rows(4_000), {1, 2, 3}, chunk_rows=250)
    await batch.send_all(producer, endpoints.manifests_topic)
    topics = [dataset.contract.topic, dataset.contract.dlq_topic]
    lag = sink.get("/v1/lag", topic=topics).json()
    assert lag["total_lag"] == len(batch.chunks) + 3
    data = [p for p in lag["partitions"] if p["topic"] == dataset.contract.topic]
    assert len(data) == 6
    assert sum(p["end_offset"] for p in data) == len(batch.chunks)
    assert sink.ready(), "paused on request is still ready"
    loaded = await warehouse.fetchval(
        f"SELECT count(*) FROM {dataset.contract.raw_table} WHERE _batch_id = $1", batch.batch_id
    )
    assert loaded == 0, "a paused sink loads nothing"
    assert "batchpipe_sink_lag_messages{" in sink.get("/metrics").text

    resumed = sink.post("/v1/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    drained = await wait_drained(sink, topics)
    assert all(
        p["committed_offset"] == p["end_offset"]
        for p in drained["partitions"]
        if p["end_offset"] > 0
    )
    await wait_loaded(sink, batch.batch_id)
