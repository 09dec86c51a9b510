"""``python -m batchpipe_common.provision``: docker compose's one-shot ``init`` container.

Reads ``BATCHPIPE_*`` settings (secrets from files, see ``batchpipe_common.settings``), then
creates the roles, databases and schemas, the bucket and the topics; exits 0 when all exist,
1 with one line naming the cause otherwise, 2 when its settings are incomplete.
"""

from __future__ import annotations

import asyncio
import sys

import structlog
from pydantic import Field, SecretStr

from batchpipe_common.contracts import ContractError
from batchpipe_common.logging import configure_logging
from batchpipe_common.provision import ProvisionError
from batchpipe_common.provision.bucket import ensure_bucket
from batchpipe_common.provision.database import RolePasswords, ensure_database
from batchpipe_common.provision.topics import TopicSettings, ensure_topics, topic_specs
from batchpipe_common.settings import (
    SettingsError,
    load_settings,
    with_password,
)

log = structlog.get_logger()


class ProvisionSettings(TopicSettings):
    """The endpoints, the superuser's DSN and the passwords of the roles it creates."""

    pg_admin_dsn: SecretStr = Field(description="a superuser's DSN (any database)")
    pg_admin_password: SecretStr | None = Field(
        default=None, description="the superuser's password, when the DSN is given without it"
    )
    pg_sink_password: SecretStr
    pg_dbt_password: SecretStr
    pg_airflow_password: SecretStr
    connect_timeout_s: float = Field(default=120.0, gt=0)

    def admin_dsn(self) -> str:
        dsn = self.pg_admin_dsn.get_secret_value()
        password = self.pg_admin_password
        return with_password(dsn, password.get_secret_value()) if password else dsn

    def role_passwords(self) -> RolePasswords:
        return RolePasswords(
            sink=self.pg_sink_password.get_secret_value(),
            dbt=self.pg_dbt_password.get_secret_value(),
            airflow=self.pg_airflow_password.get_secret_value(),
        )


async def provision(settings: ProvisionSettings) -> None:
    timeout = settings.connect_timeout_s
    created = await ensure_database(
        settings.admin_dsn(), settings.role_passwords(), timeout_s=timeout
    )
    log.info("database ready", created_databases=created)
    log.info("bucket ready", bucket=settings.s3_bucket, created=await ensure_bucket(settings))
    specs = topic_specs(
        settings.contracts_dir,
        settings.manifests_topic,
        settings.data_topic_partitions,
        settings.dlq_topic_partitions,
    )
    topics = await ensure_topics(settings.kafka_bootstrap, specs, timeout_s=timeout)
    for topic, was_created in topics.items():
        log.info("topic created" if was_created else "topic exists", topic=topic)


def main() -> int:
    configure_logging("init")
    try:
        settings = load_settings(ProvisionSettings)
    except SettingsError as exc:
        print(f"init: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(provision(settings))
    except (ProvisionError, ContractError) as exc:
        print(f"init: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
