"""Kafka 4.x, single node, KRaft combined mode, from the official jars on Maven Central.

The jars are resolved by ``infra/kafka/pom.xml`` once into ``<state>/kafka/libs`` and reused.
Storage is formatted on first start; the heap is capped; topics are created from the
contracts (data topics, their DLQs) plus the manifests topic.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from batchpipe_cli.stack.component import Component
from batchpipe_cli.stack.config import contracts_dir
from batchpipe_cli.stack.process import (
    StackError,
    alive_pid,
    ensure_port_free,
    spawn,
    stop_pid,
    tail,
    wait_until,
)
from batchpipe_common.provision import ProvisionError
from batchpipe_common.provision.topics import ensure_topics, topic_specs
from batchpipe_common.settings import REPO_ROOT

POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
HEAP = "-Xmx512m"
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # probes fail while it starts
LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


def java_major_version(java: str = "java") -> int:
    path = shutil.which(java)
    if not path:
        raise StackError("kafka: no Java found on PATH; Kafka 4 needs Java 17 or newer")
    out = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise StackError(f"kafka: cannot read the Java version from: {out.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class Kafka(Component):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.config.ports["kafka"]

    @property
    def controller_port(self) -> int:
        return self.config.ports["kafka_controller"]

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def endpoint(self) -> str:
        return self.bootstrap

    def pid(self) -> int | None:
        return alive_pid(self.pid_file, str(self.home))

    def ensure_jars(self) -> None:
        """Resolve the broker's jars from Maven Central once (``mvn`` needed only then)."""
        if (self.libs / ".complete").exists():
            return
        mvn = shutil.which("mvn")
        if not mvn:
            raise StackError(
                "kafka: the broker jars are not in the state folder yet and Maven (mvn) is not "
                "installed to fetch them; install Maven (Debian: apt-get install maven)"
            )
        self.libs.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"kafka: resolving the broker jars failed:\n{result.stdout[-2000:]}")
        (self.libs / ".complete").touch()

    def _write_config(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": str(self.config.data_partitions),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(8 * 1024 * 1024),
            "log.retention.hours": "168",
            "log.segment.bytes": str(256 * 1024 * 1024),
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.xml").write_text(LOG4J2_XML)
        return path

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            HEAP,
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.config.logs_dir}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def start(self) -> None:
        if java_major_version() < 17:
            raise StackError(f"kafka: Java {java_major_version()} found; Kafka 4 needs 17+")
        ensure_port_free(self.port, self.name)
        ensure_port_free(self.controller_port, f"{self.name} controller")
        self.ensure_jars()
        props = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            result = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(f"kafka: formatting storage failed: {result.stdout[-1500:]}")
        spawn(
            self._java("kafka.Kafka", str(props)),
            log_file=self.log_file,
            pid_file=self.pid_file,
        )
        try:
            wait_until(self.healthy, timeout=90, what="kafka", log_file=self.log_file)
        except StackError as exc:
            raise StackError(f"{exc}\n{tail(self.log_file)}") from exc
        self.create_topics()

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        return self.run_async(self._metadata_ok())

    async def _metadata_ok(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()

    def topic_specs(self) -> list[NewTopic]:
        return topic_specs(
            contracts_dir(),
            self.config.manifests_topic,
            self.config.data_partitions,
            self.config.dlq_partitions,
        )

    def create_topics(self) -> list[str]:
        """The contracts' topics (``batchpipe_common.provision``); returns those it created."""
        try:
            created = self.run_async(ensure_topics(self.bootstrap, self.topic_specs()))
        except ProvisionError as exc:
            raise StackError(f"kafka: {exc}") from exc
        return [name for name, was_created in created.items() if was_created]

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout=60)
        self.pid_file.unlink(missing_ok=True)
