"""Names that must agree between compose, the services' settings, the local stack and the
contracts: topics and partitions, the bucket, databases and roles, the sink's group, images."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from aiokafka.admin import NewTopic

from batchpipe_cli.stack.config import DEFAULT_PORTS, StackConfig
from batchpipe_cli.stack.envfile import stack_environment
from batchpipe_cli.stack.kafka import Kafka
from batchpipe_common.contracts import load_contracts
from batchpipe_common.settings import REPO_ROOT, EndpointSettings
from batchpipe_sink.settings import SinkSettings
from tests import containers
from tests.docker.model import INIT_SCRIPTS, load_script_module, services

ALL = services()
SERVICES = ("uploader", "s3-producer", "pg-sink")
INIT_SQL = (REPO_ROOT / "infra" / "postgres" / "init.sql").read_text()


def _stack(tmp_path: Path) -> StackConfig:
    return StackConfig(state_dir=tmp_path, ports=dict(DEFAULT_PORTS))


def _specs(topics: list[NewTopic]) -> set[tuple[str, int, int]]:
    return {(t.name, t.num_partitions, t.replication_factor) for t in topics}


def test_kafka_init_creates_the_topics_the_local_stack_creates(tmp_path: Path) -> None:
    env = ALL["kafka-init"]["environment"]
    module = load_script_module(INIT_SCRIPTS["kafka-init"])
    settings = module.TopicSettings(
        kafka_bootstrap=env["BATCHPIPE_KAFKA_BOOTSTRAP"],
        contracts_dir=REPO_ROOT / "contracts",
        manifests_topic=env["BATCHPIPE_MANIFESTS_TOPIC"],
        data_topic_partitions=env["BATCHPIPE_DATA_TOPIC_PARTITIONS"],
        dlq_topic_partitions=env["BATCHPIPE_DLQ_TOPIC_PARTITIONS"],
    )
    compose_topics = _specs(module.topic_specs(settings))
    assert compose_topics == _specs(Kafka(_stack(tmp_path)).topic_specs())
    contracts = load_contracts(REPO_ROOT / "contracts").values()
    names = {name for name, _, _ in compose_topics}
    assert names == {
        "batchpipe.manifests",
        *(c.topic for c in contracts),
        *(c.dlq_topic for c in contracts),
    }
    assert env["BATCHPIPE_CONTRACTS_DIR"] == "/app/contracts"


def test_manifests_topic_is_the_same_everywhere(tmp_path: Path) -> None:
    default = EndpointSettings.model_fields["manifests_topic"].default
    assert default == _stack(tmp_path).manifests_topic == "batchpipe.manifests"
    for name in (*SERVICES, "kafka-init"):
        assert ALL[name]["environment"]["BATCHPIPE_MANIFESTS_TOPIC"] == default, name


def test_bucket_is_the_same_everywhere(tmp_path: Path) -> None:
    default = EndpointSettings.model_fields["s3_bucket"].default
    assert default == _stack(tmp_path).bucket == "batchpipe-raw"
    for name in (*SERVICES, "s3-init"):
        env = ALL[name]["environment"]
        assert env["BATCHPIPE_S3_BUCKET"] == default, name
        assert env["BATCHPIPE_S3_ENDPOINT_URL"] == "http://seaweedfs:8333", name


def test_services_reach_kafka_on_its_compose_listener() -> None:
    kafka = ALL["kafka"]["environment"]
    advertised = dict(
        item.split("://", 1) for item in str(kafka["KAFKA_ADVERTISED_LISTENERS"]).split(",")
    )
    internal = advertised[str(kafka["KAFKA_INTER_BROKER_LISTENER_NAME"])]
    for name in (*SERVICES, "kafka-init"):
        assert ALL[name]["environment"]["BATCHPIPE_KAFKA_BOOTSTRAP"] == internal, name
    host_port = ALL["kafka"]["ports"][0].split(":")[1]
    assert advertised["EXTERNAL"] == f"localhost:{host_port}"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
    ):
        assert str(kafka[key]) == "1", key


def test_databases_and_roles_are_the_same_everywhere(tmp_path: Path) -> None:
    created_dbs = set(re.findall(r"CREATE DATABASE (\w+)", INIT_SQL))
    created_roles = set(re.findall(r"CREATE ROLE (\w+)", INIT_SQL))
    assert created_dbs == {"warehouse", "airflow"}
    assert created_roles == {"batchpipe_sink", "batchpipe_dbt", "airflow"}

    local = stack_environment(_stack(tmp_path))
    local_sink = urlsplit(local["BATCHPIPE_PG_DSN"])
    for name in SERVICES:
        dsn = urlsplit(ALL[name]["environment"]["BATCHPIPE_PG_DSN"])
        assert (dsn.hostname, dsn.port) == ("postgres", 5432), name
        assert (dsn.username, dsn.path) == (local_sink.username, local_sink.path), name

    airflow = ALL["airflow-scheduler"]["environment"]
    meta = urlsplit(airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    local_meta = urlsplit(local["BATCHPIPE_AIRFLOW_DB_DSN"])
    assert (meta.scheme, meta.username, meta.path) == (
        local_meta.scheme,
        local_meta.username,
        local_meta.path,
    )
    assert airflow["BATCHPIPE_DBT_USER"] == local["BATCHPIPE_DBT_USER"] == "batchpipe_dbt"
    assert airflow["BATCHPIPE_DBT_DBNAME"] == local["BATCHPIPE_DBT_DBNAME"] == "warehouse"
    assert (airflow["BATCHPIPE_DBT_HOST"], airflow["BATCHPIPE_DBT_PORT"]) == ("postgres", "5432")


def test_role_passwords_reach_postgres_and_their_users() -> None:
    postgres = ALL["postgres"]["environment"]
    airflow = ALL["airflow-scheduler"]["environment"]
    sink_dsn = urlsplit(ALL["pg-sink"]["environment"]["BATCHPIPE_PG_DSN"])
    meta = urlsplit(airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert postgres["PG_SINK_PASSWORD"] == sink_dsn.password
    assert postgres["PG_AIRFLOW_PASSWORD"] == meta.password
    assert postgres["PG_DBT_PASSWORD"] == airflow["BATCHPIPE_DBT_PASSWORD"]
    passwords = [postgres[k] for k in postgres if k.endswith("PASSWORD")]
    assert all(passwords) and len(set(passwords)) == len(passwords), "one secret per role"


def test_airflow_waits_on_the_sink_group_the_sink_joins() -> None:
    group = ALL["pg-sink"]["environment"]["BATCHPIPE_SINK_GROUP_ID"]
    assert group == SinkSettings.model_fields["sink_group_id"].default
    kafka_conn = ALL["airflow-triggerer"]["environment"]["AIRFLOW_CONN_BATCHPIPE_KAFKA"]
    assert f'"group_id": "{group}"' in kafka_conn


def test_server_images_match_the_testcontainers_path_and_the_local_kafka() -> None:
    assert ALL["kafka"]["image"] == containers.KAFKA_IMAGE
    assert ALL["postgres"]["image"] == containers.POSTGRES_IMAGE
    assert ALL["seaweedfs"]["image"] == containers.SEAWEEDFS_IMAGE
    pom = (REPO_ROOT / "infra" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([\d.]+)</kafka.version>", pom)
    assert match and ALL["kafka"]["image"] == f"apache/kafka:{match.group(1)}"
