"""Fixtures: the uploader and s3-producer apps in-process (lifespan run), against the stack."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from batchpipe_common.kafka import admin_client
from batchpipe_common.settings import EndpointSettings, load_settings
from batchpipe_producer.app import build_app as build_producer
from batchpipe_producer.settings import ProducerSettings
from batchpipe_uploader.app import build_app as build_uploader
from batchpipe_uploader.settings import UploaderSettings

SESSION_SEED = random.randrange(1 << 30)


async def _client(app: FastAPI, token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=headers,
            timeout=60,
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def api_token(stack_env: dict[str, str]) -> str:
    return stack_env["BATCHPIPE_API_TOKEN"]


@pytest.fixture(scope="session")
async def uploader(stack_env: dict[str, str], api_token: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_uploader(load_settings(UploaderSettings, log_format="console"))
    async for client in _client(app, api_token):
        yield client


@pytest.fixture(scope="session")
async def producer(stack_env: dict[str, str], api_token: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(ProducerSettings, producer_chunk_rows=1500, log_format="console")
    app = build_producer(settings)
    async for client in _client(app, api_token):
        yield client


async def upload_bytes(
    uploader: httpx.AsyncClient, data: bytes, file_name: str, dataset: str = "bank_transactions"
) -> dict[str, object]:
    response = await uploader.post(
        "/v1/uploads",
        params={"dataset": dataset, "file_name": file_name},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def run_to_end(
    producer: httpx.AsyncClient, s3_uri: str, dataset: str = "bank_transactions"
) -> dict[str, object]:
    """Trigger a run and poll its status until it has finished."""
    response = await producer.post("/v1/runs", json={"s3_uri": s3_uri, "dataset": dataset})
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    for _ in range(1200):
        status = (await producer.get(f"/v1/runs/{batch_id}")).json()
        if status["state"] in ("succeeded", "failed"):
            return dict(status)
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {batch_id} did not finish: {status}")


async def _partitions(endpoints: EndpointSettings, topic: str) -> list[int]:
    admin = admin_client(endpoints)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return [int(p["partition"]) for p in described["partitions"]]
    finally:
        await admin.close()


async def read_topic(
    endpoints: EndpointSettings,
    topic: str,
    last_offsets: dict[str, int] | dict[int, int] | None = None,
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]], int]]:
    """Messages of ``topic`` from the start up to ``last_offsets`` (partition -> offset), or up
    to the current end of every partition when it is None."""
    if last_offsets is not None and not last_offsets:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=endpoints.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        if last_offsets is None:
            numbers = await _partitions(endpoints, topic)
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in numbers])
            wanted = {tp.partition: end - 1 for tp, end in ends.items() if end > 0}
        else:
            wanted = {int(p): int(o) for p, o in last_offsets.items()}
        partitions = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        out: list[tuple[bytes, bytes, list[tuple[str, bytes]], int]] = []
        done: set[int] = set()
        while len(done) < len(wanted):
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset <= wanted[tp.partition]:
                        key, value = record.key or b"", record.value or b""
                        out.append((key, value, list(record.headers), tp.partition))
                    if record.offset >= wanted[tp.partition]:
                        done.add(tp.partition)
        return out
    finally:
        await consumer.stop()
