"""compose's one-shot init scripts, run for real against the local stack's Kafka and S3."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from batchpipe_common.settings import REPO_ROOT, EndpointSettings
from tests.docker.model import INIT_SCRIPTS

pytestmark = pytest.mark.integration


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def _partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}
    finally:
        await admin.close()


async def _delete(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


def test_kafka_init_creates_a_contracts_topics_once(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    name = f"docker_init_{uuid.uuid4().hex[:8]}"
    contract = (REPO_ROOT / "contracts" / "bank_transactions.yaml").read_text()
    contract = contract.replace("name: bank_transactions", f"name: {name}")
    contract = contract.replace("topic: bank_transactions", f"topic: {name}")
    (tmp_path / f"{name}.yaml").write_text(contract)
    env = {
        "BATCHPIPE_CONTRACTS_DIR": str(tmp_path),
        "BATCHPIPE_DATA_TOPIC_PARTITIONS": "4",
        "BATCHPIPE_DLQ_TOPIC_PARTITIONS": "2",
    }
    bootstrap = stack_env["BATCHPIPE_KAFKA_BOOTSTRAP"]
    topics = [name, f"{name}.dlq", "batchpipe.manifests"]
    try:
        first = _run(INIT_SCRIPTS["kafka-init"], env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count('"topic created"') == 2
        assert asyncio.run(_partitions(bootstrap, topics)) == {
            name: 4,
            f"{name}.dlq": 2,
            "batchpipe.manifests": 1,
        }
        again = _run(INIT_SCRIPTS["kafka-init"], env)
        assert again.returncode == 0, again.stderr
        assert '"topic created"' not in again.stdout
        assert again.stdout.count('"topic exists"') == 3
    finally:
        asyncio.run(_delete(bootstrap, [name, f"{name}.dlq"]))


def test_kafka_init_fails_naming_an_unreachable_broker(stack_env: dict[str, str]) -> None:
    env = {"BATCHPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:9", "BATCHPIPE_CONNECT_TIMEOUT_S": "1"}
    result = _run(INIT_SCRIPTS["kafka-init"], env)
    assert result.returncode == 1
    assert "kafka-init: Kafka at 127.0.0.1:9 unreachable" in result.stderr


def test_s3_init_creates_the_bucket_once(
    stack_env: dict[str, str], endpoints: EndpointSettings
) -> None:
    import boto3
    from botocore.config import Config

    bucket = f"docker-init-{uuid.uuid4().hex[:8]}"
    env = {"BATCHPIPE_S3_BUCKET": bucket}
    key, secret = endpoints.s3_access_key_id, endpoints.s3_secret_access_key
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoints.s3_endpoint_url,
        region_name=endpoints.s3_region,
        aws_access_key_id=key.get_secret_value() if key else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        first = _run(INIT_SCRIPTS["s3-init"], env)
        assert first.returncode == 0, first.stderr
        assert '"bucket created"' in first.stdout
        s3.head_bucket(Bucket=bucket)
        again = _run(INIT_SCRIPTS["s3-init"], env)
        assert again.returncode == 0, again.stderr
        assert '"bucket exists"' in again.stdout
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_init_scripts_use_only_what_the_uploader_image_has() -> None:
    """They run in the uploader image: batchpipe_common and its dependencies, nothing else."""
    allowed = {"batchpipe_common", "aiokafka", "botocore", "pydantic", "pydantic_settings"}
    allowed |= {"structlog", "__future__", *sys.stdlib_module_names}
    for script in INIT_SCRIPTS.values():
        for line in script.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]):
                assert words[1].split(".")[0] in allowed, f"{script.name}: {line}"
