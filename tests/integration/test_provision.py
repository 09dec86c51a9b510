"""``batchpipe_common.provision``, the one place that creates topics, bucket, roles and schemas,
run as compose's init container runs it (``python -m batchpipe_common.provision``) against the
local stack's real servers, with its settings and secrets as the container gets them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from batchpipe_common.provision.database import SINK_SCHEMAS
from batchpipe_common.settings import REPO_ROOT, EndpointSettings

pytestmark = pytest.mark.integration


def _provision_env(stack_env: dict[str, str], secrets: Path, **overrides: str) -> dict[str, str]:
    """The init container's variables; passwords only as files (the stack's own, unchanged)."""
    admin = urlsplit(stack_env["BATCHPIPE_PG_ADMIN_DSN"])
    files = {
        "batchpipe_pg_admin_password": admin.password or "",
        "batchpipe_pg_sink_password": urlsplit(stack_env["BATCHPIPE_PG_DSN"]).password or "",
        "batchpipe_pg_dbt_password": stack_env["BATCHPIPE_DBT_PASSWORD"],
        "batchpipe_pg_airflow_password": urlsplit(stack_env["BATCHPIPE_AIRFLOW_DB_DSN"]).password
        or "",
        "batchpipe_s3_secret_access_key": stack_env["BATCHPIPE_S3_SECRET_ACCESS_KEY"],
    }
    secrets.mkdir(exist_ok=True)
    for name, value in files.items():
        (secrets / name).write_text(value + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPIPE_")}
    env.update(
        BATCHPIPE_SECRETS_DIR=str(secrets),
        BATCHPIPE_KAFKA_BOOTSTRAP=stack_env["BATCHPIPE_KAFKA_BOOTSTRAP"],
        BATCHPIPE_S3_ENDPOINT_URL=stack_env["BATCHPIPE_S3_ENDPOINT_URL"],
        BATCHPIPE_S3_ACCESS_KEY_ID=stack_env["BATCHPIPE_S3_ACCESS_KEY_ID"],
        BATCHPIPE_PG_ADMIN_DSN=f"postgresql://{admin.username}@{admin.hostname}:{admin.port}/postgres",
        BATCHPIPE_LOG_FORMAT="json",
    )
    env.update(overrides)
    return env


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchpipe_common.provision"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


async def _partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}
    finally:
        await admin.close()


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def _schemas_and_roles(dsn: str) -> tuple[set[str], set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        owned = await conn.fetch(
            "select nspname from pg_namespace n join pg_roles r on r.oid = n.nspowner "
            "where r.rolname = 'batchpipe_sink'"
        )
        roles = await conn.fetch(
            "select rolname from pg_roles where rolname like any($1)", ["batchpipe_%", "airflow"]
        )
        return {r["nspname"] for r in owned}, {r["rolname"] for r in roles}
    finally:
        await conn.close()


def test_provision_creates_what_is_missing_and_leaves_the_rest(
    stack_env: dict[str, str], endpoints: EndpointSettings, tmp_path: Path
) -> None:
    import boto3
    from botocore.config import Config

    name = f"provision_{uuid.uuid4().hex[:8]}"
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    contract = (REPO_ROOT / "contracts" / "bank_transactions.yaml").read_text()
    contract = contract.replace("name: bank_transactions", f"name: {name}")
    contract = contract.replace("topic: bank_transactions", f"topic: {name}")
    (contracts / f"{name}.yaml").write_text(contract)
    bucket = name.replace("_", "-")
    env = _provision_env(
        stack_env,
        tmp_path / "secrets",
        BATCHPIPE_CONTRACTS_DIR=str(contracts),
        BATCHPIPE_S3_BUCKET=bucket,
        BATCHPIPE_DATA_TOPIC_PARTITIONS="4",
        BATCHPIPE_DLQ_TOPIC_PARTITIONS="2",
    )
    bootstrap = stack_env["BATCHPIPE_KAFKA_BOOTSTRAP"]
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
        first = _run(env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count('"topic created"') == 2, first.stdout
        assert asyncio.run(_partitions(bootstrap, [name, f"{name}.dlq"])) == {
            name: 4,
            f"{name}.dlq": 2,
        }
        s3.head_bucket(Bucket=bucket)
        again = _run(env)
        assert again.returncode == 0, again.stderr
        assert '"topic created"' not in again.stdout
        assert again.stdout.count('"topic exists"') == 3
        schemas, roles = asyncio.run(_schemas_and_roles(stack_env["BATCHPIPE_PG_ADMIN_DSN"]))
        assert set(SINK_SCHEMAS) <= schemas
        assert roles == {"batchpipe_sink", "batchpipe_dbt", "airflow"}
    finally:
        asyncio.run(_delete_topics(bootstrap, [name, f"{name}.dlq"]))
        s3.delete_bucket(Bucket=bucket)
    # the roles still log in with the stack's passwords: the sink's DSN works as before
    asyncio.run(_schemas_and_roles(stack_env["BATCHPIPE_PG_DSN"]))


def test_provision_names_an_unreachable_server_in_one_line(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = _provision_env(
        stack_env,
        tmp_path / "secrets",
        BATCHPIPE_PG_ADMIN_DSN="postgresql://postgres@127.0.0.1:9/postgres",
        BATCHPIPE_CONNECT_TIMEOUT_S="1",
    )
    result = _run(env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, "one line, no traceback"
    assert result.stderr.startswith("init: PostgreSQL at 127.0.0.1 did not answer within 1s")


def test_provision_names_a_refused_superuser_password(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = _provision_env(stack_env, tmp_path / "secrets")
    (tmp_path / "secrets" / "batchpipe_pg_admin_password").write_text("wrong")
    result = _run(env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("init: PostgreSQL refused the superuser's password")


def test_provision_names_missing_secrets(stack_env: dict[str, str], tmp_path: Path) -> None:
    env = _provision_env(stack_env, tmp_path / "secrets")
    (tmp_path / "secrets" / "batchpipe_pg_dbt_password").unlink()
    result = _run(env)
    assert result.returncode == 2
    assert "BATCHPIPE_PG_DBT_PASSWORD is required but not set" in result.stderr
