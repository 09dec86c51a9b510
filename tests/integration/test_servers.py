"""The local stack's servers are real and usable by the libraries the services use."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from batchpipe_common.db import create_pool
from batchpipe_common.kafka import admin_client, reliable_producer
from batchpipe_common.s3 import s3_client
from batchpipe_common.settings import EndpointSettings

pytestmark = pytest.mark.integration


async def test_kafka_round_trip_on_created_topic(endpoints: EndpointSettings) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = admin_client(endpoints)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
        producer = reliable_producer(endpoints)
        await producer.start()
        try:
            sent = {f"k{i}".encode(): f"value-{i}".encode() for i in range(30)}
            for key, value in sent.items():
                await producer.send_and_wait(topic, value, key=key, headers=[("h", b"1")])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=endpoints.kafka_bootstrap, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(3)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            received: dict[bytes, bytes] = {}
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=5000)
                assert batch, "no messages within 5 s"
                for records in batch.values():
                    for record in records:
                        assert record.key is not None and record.value is not None
                        assert record.headers == (("h", b"1"),)
                        received[record.key] = record.value
        finally:
            await consumer.stop()
        assert received == sent
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_postgres_query_and_copy(admin_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        assert await conn.fetchval("select current_database()") == "warehouse"
        table = f"copy_check_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"create temp table {table} (d date, n numeric(14,2), s text)")
        csv_bytes = b'd,n,s\n2022-01-01,12.50,a\n2022-01-02,7.25,"b,c"\n'
        result = await conn.copy_to_table(
            table, source=_Chunks([csv_bytes]), format="csv", header=True
        )
        assert result == "COPY 2"
        rows = await conn.fetch(f"select s, n from {table} order by d")
        assert [(r["s"], str(r["n"])) for r in rows] == [("a", "12.50"), ("b,c", "7.25")]
    finally:
        await conn.close()


async def test_pooled_connections_never_compile_a_ledger_lookup(
    endpoints: EndpointSettings,
) -> None:
    """The services' connections run without JIT: a batch's status lookup is a 0.4 ms query
    whose estimate, once the rejects table is large, crossed ``jit_above_cost`` and cost
    ~250 ms of compiling each time (the sink looks one up after every commit)."""
    pool = await create_pool(endpoints, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW jit") == "off"
            await conn.execute("SET jit_above_cost = 0")  # JIT for every query, if it were on
            plan = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) "
                "SELECT * FROM batchpipe.batch_status WHERE batch_id = 'none'"
            )
            assert "JIT" not in json.loads(plan)[0]
    finally:
        await pool.close()


async def test_pipeline_roles_exist(admin_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        owners = dict(
            await conn.fetch(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
                "where nspname in ('raw', 'batchpipe')"
            )
        )
        assert owners == {"raw": "batchpipe_sink", "batchpipe": "batchpipe_sink"}
        dbs = {r[0] for r in await conn.fetch("select datname from pg_database")}
        assert {"warehouse", "airflow"} <= dbs
    finally:
        await conn.close()


async def test_s3_multipart_upload_and_streamed_download(endpoints: EndpointSettings) -> None:
    part = 5 * 1024 * 1024  # S3's minimum part size
    payload = os.urandom(part) + os.urandom(part) + os.urandom(1234)
    key = f"tests/multipart-{uuid.uuid4().hex}.bin"
    async with s3_client(endpoints) as s3:
        upload = await s3.create_multipart_upload(Bucket=endpoints.s3_bucket, Key=key)
        parts = []
        for number, start in enumerate(range(0, len(payload), part), start=1):
            resp = await s3.upload_part(
                Bucket=endpoints.s3_bucket,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=payload[start : start + part],
            )
            parts.append({"ETag": resp["ETag"], "PartNumber": number})
        await s3.complete_multipart_upload(
            Bucket=endpoints.s3_bucket,
            Key=key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )
        obj = await s3.get_object(Bucket=endpoints.s3_bucket, Key=key)
        digest = hashlib.sha256()
        size = 0
        largest_read = 0
        async with obj["Body"] as body:
            while chunk := await body.read(256 * 1024):
                digest.update(chunk)
                size += len(chunk)
                largest_read = max(largest_read, len(chunk))
        await s3.delete_object(Bucket=endpoints.s3_bucket, Key=key)
    assert len(parts) == 3
    assert size == len(payload)
    assert largest_read <= 256 * 1024
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


class _Chunks:
    """An async iterator over byte chunks, as asyncpg's COPY source accepts."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None
