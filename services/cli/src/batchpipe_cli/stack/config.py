"""Where the local stack keeps its state and which loopback ports it uses.

Everything can be moved with environment variables, so that several stacks (a developer's and
a test run's, say) can live side by side: ``BATCHPIPE_STACK_DIR`` and either one variable per
port or ``BATCHPIPE_STACK_PORT_OFFSET`` to shift them all.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from batchpipe_common.settings import REPO_ROOT

S3Backend = Literal["moto", "seaweedfs"]

# All below Linux's ephemeral range (32768-60999): a client reconnecting in a tight loop to a
# stopped server must never be handed that server's port as its own source port (a TCP
# self-connect), which would then keep the server from binding its port again.
DEFAULT_PORTS = {
    "postgres": 25432,
    "kafka": 29092,
    "kafka_controller": 29093,
    "s3": 29000,
    "seaweedfs_master": 29333,
    "seaweedfs_volume": 29080,
    "seaweedfs_filer": 29888,
    # SeaweedFS's gRPC ports, set: its defaults (HTTP port + 10000) lie in the ephemeral range
    "seaweedfs_master_grpc": 29334,
    "seaweedfs_volume_grpc": 29081,
    "seaweedfs_filer_grpc": 29889,
    "seaweedfs_s3_grpc": 29001,
    "uploader": 8101,
    "s3_producer": 8102,
    "pg_sink": 8110,
    "airflow": 8080,
}


def default_state_dir() -> Path:
    return Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack")).resolve()


def contracts_dir() -> Path:
    return Path(os.environ.get("BATCHPIPE_CONTRACTS_DIR", REPO_ROOT / "contracts")).resolve()


def _ports_from_env() -> dict[str, int]:
    offset = int(os.environ.get("BATCHPIPE_STACK_PORT_OFFSET", "0"))
    ports = {}
    for name, port in DEFAULT_PORTS.items():
        override = os.environ.get(f"BATCHPIPE_STACK_{name.upper()}_PORT")
        ports[name] = int(override) if override else port + offset
    return ports


@dataclass
class Secrets:
    """Generated once per state folder; only loopback servers use them."""

    pg_superuser_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    pg_sink_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    pg_dbt_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    pg_airflow_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    s3_access_key_id: str = "batchpipe"
    s3_secret_access_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


@dataclass
class StackConfig:
    state_dir: Path
    ports: dict[str, int]
    s3_backend: S3Backend = "seaweedfs"
    data_partitions: int = 6
    dlq_partitions: int = 3
    sink_replicas: int = 1
    services_enabled: bool = True
    bucket: str = "batchpipe-raw"
    manifests_topic: str = "batchpipe.manifests"
    secrets: Secrets = field(default_factory=Secrets)

    @property
    def config_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def inbox_dir(self) -> Path:
        return self.state_dir / "inbox"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        self.config_file.write_text(json.dumps(data, indent=2))
        self.config_file.chmod(0o600)

    @classmethod
    def load(cls, state_dir: Path | None = None) -> StackConfig:
        """The saved configuration of a state folder, or a new one from the environment."""
        state_dir = (state_dir or default_state_dir()).resolve()
        path = state_dir / "stack.json"
        if path.exists():
            data = json.loads(path.read_text())
            data["state_dir"] = state_dir
            data["secrets"] = Secrets(**data.get("secrets", {}))
            ports = _ports_from_env()
            ports.update(data.get("ports", {}))
            data["ports"] = ports
            return cls(**data)
        return cls(state_dir=state_dir, ports=_ports_from_env())
