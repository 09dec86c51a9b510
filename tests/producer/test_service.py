"""The uploader and the s3-producer against the real stack: S3 (moto), Kafka."""

from __future__ import annotations

import random

import httpx
import orjson
import pytest

from batchpipe_common.settings import EndpointSettings
from batchpipe_common.wire import H_BATCH, ChunkHeaders, Manifest
from tests.producer.conftest import (
    SESSION_SEED,
    read_topic,
    run_to_end,
    upload_bytes,
)
from tests.producer.planted import (
    BAD_LINES,
    as_gzip,
    as_jsonl,
    as_parquet,
    bank_sample,
    parse_chunk,
)

pytestmark = pytest.mark.integration
HEADER = b"Date,Domain,Location,Total_Amount,Transaction_count\n"


async def _batch_rows(
    endpoints: EndpointSettings, manifest: Manifest
) -> tuple[list[list[str]], list[bytes], list[dict[str, object]]]:
    """(data rows, chunk keys, dead letters) of one batch, read back from Kafka."""
    rows: list[list[str]] = []
    keys: list[bytes] = []
    for key, value, headers, _ in await read_topic(
        endpoints, manifest.data.topic, manifest.data.offsets
    ):
        if dict(headers).get(H_BATCH) != manifest.batch_id.encode():
            continue
        chunk = ChunkHeaders.from_kafka(headers)
        _header, *data = parse_chunk(value)
        assert len(data) == chunk.row_count
        keys.append(key)
        rows.extend(data)
    letters = [
        orjson.loads(value)
        for key, value, _, _ in await read_topic(
            endpoints, manifest.dlq.topic, manifest.dlq.offsets
        )
        if key.startswith(manifest.batch_id.encode() + b":")
    ]
    return rows, keys, letters


async def test_upload_then_produce_planted_file(
    uploader: httpx.AsyncClient, producer: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    sample = bank_sample(20_000, seed=SESSION_SEED)
    stored = await upload_bytes(uploader, sample.csv_bytes, "bank.csv")
    status = await run_to_end(producer, str(stored["s3_uri"]))
    assert status["state"] == "succeeded", status
    manifest = Manifest.model_validate(status["manifest"])
    assert manifest.sha256 == stored["sha256"]
    assert manifest.rows_read == sample.rows_read
    assert manifest.rows_valid + manifest.rows_rejected == manifest.rows_read
    assert manifest.rows_rejected == len(BAD_LINES)

    rows, keys, letters = await _batch_rows(endpoints, manifest)
    assert len(keys) == len(set(keys)) == manifest.chunk_count
    by_row = {int(r[-1]): r for r in rows}
    assert len(by_row) == len(rows) == manifest.rows_valid
    assert {row: r[:-1] for row, r in by_row.items()} == sample.good
    assert {key.rsplit(b":", 1)[0] for key in keys} == {manifest.batch_id.encode()}
    assert sorted(d["source_row"] for d in letters) == sorted(sample.bad)  # type: ignore[type-var]
    assert all(d["source_uri"] == stored["s3_uri"] for d in letters)

    topic = endpoints.manifests_topic
    manifests = await read_topic(endpoints, topic)
    ours = [Manifest.from_bytes(v) for k, v, _, _ in manifests if k == manifest.batch_id.encode()]
    assert ours and ours[-1].rows_valid == manifest.rows_valid


async def test_gzip_jsonl_and_parquet_give_the_same_rows(
    uploader: httpx.AsyncClient, producer: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    sample = bank_sample(3000, seed=SESSION_SEED + 1, plant=False)
    results = []
    for data, name in (
        (as_gzip(sample.csv_bytes), "bank.csv.gz"),
        (as_jsonl(sample), "bank.jsonl"),
        (as_parquet(sample), "bank.parquet"),
    ):
        stored = await upload_bytes(uploader, data, name)
        status = await run_to_end(producer, str(stored["s3_uri"]))
        assert status["state"] == "succeeded", status
        manifest = Manifest.model_validate(status["manifest"])
        rows, _, letters = await _batch_rows(endpoints, manifest)
        assert letters == []
        results.append(sorted((r[:-1], int(r[-1])) for r in rows))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 3000


async def test_same_object_twice_is_one_batch(
    uploader: httpx.AsyncClient, producer: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    sample = bank_sample(4000, seed=SESSION_SEED + 2, plant=False)
    first = await upload_bytes(uploader, sample.csv_bytes, "twice.csv")
    second = await upload_bytes(uploader, sample.csv_bytes, "twice-again.csv")
    assert (first["deduplicated"], second["deduplicated"]) == (False, True)
    assert first["s3_uri"] == second["s3_uri"]

    status = await run_to_end(producer, str(first["s3_uri"]))
    again = await producer.post(
        "/v1/runs", json={"s3_uri": first["s3_uri"], "dataset": "bank_transactions"}
    )
    assert again.status_code == 202
    assert again.json()["batch_id"] == status["batch_id"]
    assert again.json()["started"] is False
    manifest = Manifest.model_validate(status["manifest"])
    rows, keys, _ = await _batch_rows(endpoints, manifest)
    assert len(keys) == len(set(keys))
    assert len(rows) == 4000


@pytest.mark.parametrize(
    ("name", "data", "state", "error"),
    [
        ("empty.csv", b"", "failed", "empty object"),
        ("header-only.csv", HEADER, "succeeded", None),
        (
            "wrong-header.csv",
            b"Date,Domain,City,Total_Amount,Transaction_count\n",
            "failed",
            "wrong header",
        ),
        ("truncated.csv.gz", None, "failed", "truncated gzip"),
    ],
)
async def test_file_level_outcomes(
    uploader: httpx.AsyncClient,
    producer: httpx.AsyncClient,
    name: str,
    data: bytes | None,
    state: str,
    error: str | None,
) -> None:
    if data is None:
        packed = as_gzip(bank_sample(5000, seed=SESSION_SEED + 3, plant=False).csv_bytes)
        data = packed[: len(packed) - 100]
    stored = await upload_bytes(uploader, data, name)
    status = await run_to_end(producer, str(stored["s3_uri"]))
    assert status["state"] == state, status
    if error is None:
        manifest = Manifest.model_validate(status["manifest"])
        assert (manifest.rows_read, manifest.chunk_count) == (0, 0)
    else:
        assert error in str(status["error"])
        assert status["manifest"] is None


async def test_many_dead_letters_are_all_within_the_manifest_offsets(
    uploader: httpx.AsyncClient, producer: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    """Dead letters go out as record batches (several per submission of 256, several
    submissions): the manifest's DLQ offsets still cover every one of them, each once."""
    base = random.randrange(990_000)  # a new file each run: a re-run's letters would add up
    rows = [
        f"2023-01-{1 + i % 28:02d},RETAIL,Pune,{'abc' if i % 3 else '10.50'},{base + i}"
        for i in range(3000)
    ]
    data = HEADER + ("\n".join(rows) + "\n").encode()
    stored = await upload_bytes(uploader, data, "many-bad.csv")
    status = await run_to_end(producer, str(stored["s3_uri"]))
    assert status["state"] == "succeeded", status
    manifest = Manifest.model_validate(status["manifest"])
    bad = [i + 1 for i in range(3000) if i % 3]
    assert (manifest.rows_valid, manifest.rows_rejected) == (1000, len(bad))

    _rows, _keys, letters = await _batch_rows(endpoints, manifest)
    assert sorted(d["source_row"] for d in letters) == bad  # type: ignore[type-var]
    assert {str(d["raw_line"]).split(",")[3] for d in letters} == {"abc"}


async def test_unknown_dataset_and_object(producer: httpx.AsyncClient) -> None:
    missing = await producer.post(
        "/v1/runs", json={"s3_uri": "s3://batchpipe-raw/nope/x.csv", "dataset": "bank_transactions"}
    )
    assert missing.status_code == 404
    unknown = await producer.post("/v1/runs", json={"s3_uri": "s3://b/k", "dataset": "nope"})
    assert unknown.status_code == 404
    assert (await producer.get("/v1/runs/nope")).status_code == 404


async def test_mutating_endpoints_need_the_token(
    producer: httpx.AsyncClient, uploader: httpx.AsyncClient
) -> None:
    body = {"s3_uri": "s3://b/k", "dataset": "bank_transactions"}
    denied = await producer.post("/v1/runs", json=body, headers={"Authorization": ""})
    assert denied.status_code == 401
    wrong = await uploader.post(
        "/v1/uploads",
        json={"dataset": "bank_transactions", "path": "x.csv"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert wrong.status_code == 401
    for client in (producer, uploader):
        assert (await client.get("/healthz", headers={"Authorization": ""})).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        metrics = await client.get("/metrics")
        assert "batchpipe_" in metrics.text
