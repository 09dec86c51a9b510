"""The ``BATCHPIPE_TEST_BACKEND=containers`` path: the same servers from testcontainers.

Needs a Docker engine (none runs on the project's build machines, so the local stack is the
default). Starts the pinned images that docker-compose.yml uses, creates the roles, schemas,
topics and bucket the way the local stack does, and yields the same BATCHPIPE_* variables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from batchpipe_common.settings import REPO_ROOT

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:17.6-bookworm"
SEAWEEDFS_IMAGE = "chrislusf/seaweedfs:4.53"
PASSWORD = "batchpipe-test"  # throwaway containers only


@contextmanager
def container_stack() -> Iterator[dict[str, str]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer(KAFKA_IMAGE).with_kraft())
        pg = stack.enter_context(
            PostgresContainer(POSTGRES_IMAGE, username="postgres", password=PASSWORD)
        )
        s3 = stack.enter_context(
            DockerContainer(SEAWEEDFS_IMAGE).with_command("server -s3").with_exposed_ports(8333)
        )
        wait_for_logs(s3, "Start Seaweed S3 API Server", timeout=60)
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        s3_url = f"http://{s3.get_container_host_ip()}:{s3.get_exposed_port(8333)}"
        env = {
            "BATCHPIPE_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
            "BATCHPIPE_PG_DSN": f"postgresql://batchpipe_sink:{PASSWORD}@{host}:{port}/warehouse",
            "BATCHPIPE_PG_ADMIN_DSN": f"postgresql://postgres:{PASSWORD}@{host}:{port}/warehouse",
            "BATCHPIPE_DBT_HOST": host,
            "BATCHPIPE_DBT_PORT": str(port),
            "BATCHPIPE_DBT_USER": "batchpipe_dbt",
            "BATCHPIPE_DBT_PASSWORD": PASSWORD,
            "BATCHPIPE_DBT_DBNAME": "warehouse",
            "BATCHPIPE_S3_ENDPOINT_URL": s3_url,
            "BATCHPIPE_S3_BUCKET": "batchpipe-raw",
            "BATCHPIPE_S3_REGION": "us-east-1",
            "BATCHPIPE_S3_ACCESS_KEY_ID": "any",
            "BATCHPIPE_S3_SECRET_ACCESS_KEY": "any",
            "BATCHPIPE_CONTRACTS_DIR": str(REPO_ROOT / "contracts"),
        }
        asyncio.run(_provision(env))
        yield env


async def _provision(env: dict[str, str]) -> None:
    """The roles, schemas, bucket and topics, as the local stack and compose's init create them."""
    from batchpipe_common.provision.bucket import ensure_bucket
    from batchpipe_common.provision.database import RolePasswords, ensure_database
    from batchpipe_common.provision.topics import ensure_topics, topic_specs
    from batchpipe_common.settings import ServiceSettings

    passwords = RolePasswords(sink=PASSWORD, dbt=PASSWORD, airflow=PASSWORD)
    await ensure_database(env["BATCHPIPE_PG_ADMIN_DSN"], passwords)
    settings = ServiceSettings(
        kafka_bootstrap=env["BATCHPIPE_KAFKA_BOOTSTRAP"],
        s3_endpoint_url=env["BATCHPIPE_S3_ENDPOINT_URL"],
        s3_access_key_id=env["BATCHPIPE_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=env["BATCHPIPE_S3_SECRET_ACCESS_KEY"],
    )
    await ensure_bucket(settings)
    specs = topic_specs(REPO_ROOT / "contracts", settings.manifests_topic)
    await ensure_topics(settings.kafka_bootstrap, specs)
