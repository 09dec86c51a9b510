"""The S3 API server: SeaweedFS by default (as in compose), moto's server with ``--s3 moto``.

SeaweedFS (``weed server -s3``: master, volume server, filer and S3 gateway in one process)
keeps objects, and unfinished multipart uploads, on disk in the state folder: they survive a
restart. ``scripts/setup.sh`` builds its ``weed`` binary once per machine and links it as
``.venvs/seaweedfs/weed``; ``BATCHPIPE_WEED`` or ``weed`` on PATH are used when that link is
missing. moto (a mocking library) keeps everything in memory: a restart loses it all.

Clients reach the server only through the endpoint URL with path-style addressing, so AWS S3
or any S3-compatible store works by changing settings.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from batchpipe_cli.stack.component import Component
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
from batchpipe_common.provision.bucket import ensure_bucket
from batchpipe_common.settings import REPO_ROOT, ServiceSettings

SETUP_WEED = REPO_ROOT / ".venvs" / "seaweedfs" / "weed"


def find_weed() -> Path:
    """The SeaweedFS binary: ``BATCHPIPE_WEED``, the one setup built, or ``weed`` on PATH."""
    override = os.environ.get("BATCHPIPE_WEED")
    if override:
        return Path(override)
    if SETUP_WEED.exists():
        return SETUP_WEED.resolve()
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise StackError(
        "s3: SeaweedFS is not built: run `scripts/setup.sh seaweedfs` (once per machine, "
        "~5 min) or start the stack with `--s3 moto`"
    )


class S3Server(Component):
    name = "s3"

    @property
    def port(self) -> int:
        return self.config.ports["s3"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self) -> str:
        return self.url

    def pid(self) -> int | None:
        marker = str(self.home) if self.config.s3_backend == "seaweedfs" else f"-p {self.port}"
        return alive_pid(self.pid_file, marker)

    def client(self) -> object:
        s = self.config.secrets
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=s.s3_access_key_id,
            aws_secret_access_key=s.s3_secret_access_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=5,
            ),
        )

    def _argv(self) -> list[str]:
        if self.config.s3_backend == "moto":
            return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        weed = find_weed()
        s = self.config.secrets
        identities = {
            "identities": [
                {
                    "name": "batchpipe",
                    "credentials": [
                        {"accessKey": s.s3_access_key_id, "secretKey": s.s3_secret_access_key}
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        s3_config = self.home / "s3.json"
        s3_config.write_text(json.dumps(identities))
        s3_config.chmod(0o600)
        p = self.config.ports
        return [
            str(weed),
            "server",
            f"-dir={self.home / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['seaweedfs_master']}",
            f"-master.port.grpc={p['seaweedfs_master_grpc']}",
            # as compose: 1 GiB volumes (deleted space is reclaimed volume by volume), as many
            # as the free disk holds
            "-master.volumeSizeLimitMB=1024",
            # one master: its raft election need not wait 10 s; no usage reports sent out
            "-master.electionTimeout=1s",
            "-master.telemetry=false",
            "-volume.max=0",
            f"-volume.port={p['seaweedfs_volume']}",
            f"-volume.port.grpc={p['seaweedfs_volume_grpc']}",
            # stop at once: the stack stops its clients first, nobody needs the 10 s of notice
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['seaweedfs_filer']}",
            f"-filer.port.grpc={p['seaweedfs_filer_grpc']}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={p['seaweedfs_s3_grpc']}",
            # the S3 gateway's Iceberg and Lance catalogs listen on fixed ports by default
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={s3_config}",
        ]

    def start(self) -> None:
        ensure_port_free(self.port, self.name)
        self.home.mkdir(parents=True, exist_ok=True)
        spawn(self._argv(), log_file=self.log_file, pid_file=self.pid_file, cwd=self.home)
        try:
            wait_until(self._answers, timeout=60, what="s3", log_file=self.log_file)
        except StackError as exc:
            raise StackError(f"{exc}\n{tail(self.log_file)}") from exc
        self.ensure_bucket()

    def _answers(self) -> bool:
        try:
            self.client().list_buckets()  # type: ignore[attr-defined]
        except (BotoCoreError, ClientError):
            return False
        return self.config.s3_backend == "moto" or self._volumes_registered()

    def _volumes_registered(self) -> bool:
        """SeaweedFS's master knows every volume on disk: the S3 gateway answers before the
        volume server has reported them, and reading an object of an unreported volume hangs."""
        on_disk = len(list((self.home / "data").glob("*.dat")))
        status_url = f"http://127.0.0.1:{self.config.ports['seaweedfs_master']}/dir/status"
        try:
            with urllib.request.urlopen(status_url, timeout=2) as answer:
                topology = json.load(answer)["Topology"]
        except (OSError, ValueError, KeyError):
            return False
        nodes = [
            node
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        return bool(nodes) and sum(int(node.get("Volumes", 0)) for node in nodes) >= on_disk

    def ensure_bucket(self) -> bool:
        """The stack's bucket (``batchpipe_common.provision``); True when it was created."""
        s = self.config.secrets
        settings = ServiceSettings(
            kafka_bootstrap=f"127.0.0.1:{self.config.ports['kafka']}",
            s3_endpoint_url=self.url,
            s3_bucket=self.config.bucket,
            s3_access_key_id=SecretStr(s.s3_access_key_id),
            s3_secret_access_key=SecretStr(s.s3_secret_access_key),
        )
        try:
            return self.run_async(ensure_bucket(settings, timeout_s=30))
        except ProvisionError as exc:
            raise StackError(f"s3: {exc}") from exc

    def healthy(self) -> bool:
        """The bucket can be listed."""
        try:
            self.client().list_objects_v2(  # type: ignore[attr-defined]
                Bucket=self.config.bucket, MaxKeys=1
            )
            return True
        except (BotoCoreError, ClientError):
            return False

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout=20)
        self.pid_file.unlink(missing_ok=True)
