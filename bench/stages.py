"""The measured stages of ``make bench``, run against the running local stack.

What ``bench/run.py`` times, each on one generated bank file, and what it records:

- ``Measure``: one row of the results page, its seconds paired with the limit's;
- the limit (``copy_limit``: server-side COPY into PostgreSQL) and the alternatives
  (``baseline``: a loader of ``bench/baselines.py`` run in ``.venvs/bench``);
- batchpipe's stages through the stack's services: the sink alone, end to end (upload,
  produce, sink) and end to end plus ``dbt build`` (``stage_*``), with the services' processes
  (``service_pids``) and the CPU they spend (``with_cpu``);
- their inputs: the bank file (``bank_file``) and the stack's environment (``stack_env``).

Needs the local stack with its services (``batchpipe stack up``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from batchpipe_cli.generate import generate_bank_file
from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.envfile import read_env_file, stack_environment
from batchpipe_cli.stack.manager import status as stack_status
from batchpipe_cli.stack.services import SERVICE_SPECS, Service
from batchpipe_common.contracts import load_contract
from batchpipe_common.ddl import column_ddl
from batchpipe_common.settings import REPO_ROOT
from bench.cpu import cpu_seconds

BENCH_PY = REPO_ROOT / ".venvs" / "bench" / "bin" / "python"
DBT = REPO_ROOT / ".venvs" / "dbt" / "bin" / "dbt"
CONTRACT = load_contract(REPO_ROOT / "contracts" / "bank_transactions.yaml")
DATASET = CONTRACT.name
STAGE_TIMEOUT = 1800.0
# How often the harness asks whether a run or a batch is done. A stage's time includes up to
# one interval of this polling; a backoff to 0.5 s used to add about 0.25 s on average to
# each 2-4 s stage. At 20 ms it costs the services one cheap HTTP request per interval.
POLL_INTERVAL = 0.02


@dataclass
class Measure:
    name: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    note: str = ""
    reference_seconds: list[float] = field(default_factory=list)
    """server-side COPY of the same file, timed right before each measurement"""
    parts: dict[str, list[float]] = field(default_factory=dict)
    """seconds of each stage within a measurement (end to end: upload, produce, sink tail)"""
    ratio: float | None = None
    """Against its paired baseline (``bench.real_world``), when it has one."""
    cpu_s: dict[str, list[float]] = field(default_factory=dict)
    """CPU seconds of each part of the stack per measurement (``bench.cpu``)"""
    busy: list[float] = field(default_factory=list)
    """share of the machine's cores the stack kept busy, per measurement"""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.rows / self.median

    @property
    def paired_ratio(self) -> float | None:
        """Median over the pairs of (this rate / the same file's COPY rate)."""
        pairs = list(zip(self.reference_seconds, self.seconds, strict=False))
        if not pairs:
            return None
        return statistics.median(ref / s for ref, s in pairs)

    @property
    def reference_rates(self) -> tuple[float, float] | None:
        if not self.reference_seconds:
            return None
        return self.rows / max(self.reference_seconds), self.rows / min(self.reference_seconds)

    def pair(self, ctx: Context, path: Path, measure: Callable[[], float]) -> None:
        """Time the limit on ``path``, then ``measure`` (which loads the same file)."""
        self.reference_seconds.append(asyncio.run(copy_limit(ctx, path)))
        self.seconds.append(measure())


@dataclass
class Context:
    env: dict[str, str]
    work: Path
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, key: str) -> str:
        return self.env[key]


# --- 1. the limit -------------------------------------------------------------------------


async def copy_limit(ctx: Context, path: Path) -> float:
    """Server-side COPY of the CSV into a fresh table with the raw table's column types."""
    conn = await asyncpg.connect(ctx.env["BATCHPIPE_PG_ADMIN_DSN"])
    try:
        cols = ", ".join(f"{n} {t}" for n, t in column_ddl(CONTRACT)[: len(CONTRACT.columns)])
        names = ", ".join(CONTRACT.column_names)
        await conn.execute("create schema if not exists bench")
        await conn.execute("drop table if exists bench.copy_limit")
        await conn.execute(f"create table bench.copy_limit ({cols})")
        started = time.perf_counter()
        await conn.execute(
            f"copy bench.copy_limit ({names}) from '{path}' (format csv, header true)"
        )
        seconds = time.perf_counter() - started
        await conn.execute("drop table bench.copy_limit")
        return seconds
    finally:
        await conn.close()


# --- 2, 3. the alternatives ----------------------------------------------------------------


def baseline(ctx: Context, loader: str, path: Path, rows: int) -> float:
    out = subprocess.run(
        [
            str(BENCH_PY),
            str(REPO_ROOT / "bench" / "baselines.py"),
            loader,
            "--file",
            str(path),
            "--dsn",
            ctx.env["BATCHPIPE_PG_ADMIN_DSN"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{loader} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rows"] != rows:
        raise RuntimeError(f"{loader} loaded {result['rows']} rows, expected {rows}")
    return float(result["seconds"])


# --- 4-6. batchpipe ------------------------------------------------------------------------


def service_pids(config: StackConfig, servers: bool = False) -> dict[str, int]:
    """The services' processes (and with ``servers``, PostgreSQL's, Kafka's and S3's too)."""
    return {
        s.component: s.pid
        for s in stack_status(config)
        if s.pid is not None and (servers or s.component not in ("postgres", "kafka", "s3"))
    }


def with_cpu(m: Measure, pids: dict[str, int], measure: Callable[[], float]) -> float:
    """``measure()``, recording the CPU seconds each process spent on it into ``m``."""
    with cpu_seconds(pids) as cpu:
        seconds = measure()
    for name, used in cpu.seconds.items():
        m.cpu_s.setdefault(name, []).append(used)
    m.busy.append(cpu.busy)
    return seconds


async def wait_loaded(client: httpx.AsyncClient, ctx: Context, batch_id: str) -> dict[str, object]:
    """Poll the sink's ledger until the batch is loaded (reconciled) and return it."""
    url = f"{ctx.url('BATCHPIPE_SINK_URL')}/v1/batches/{batch_id}"
    deadline = time.monotonic() + STAGE_TIMEOUT
    while time.monotonic() < deadline:
        resp = await client.get(url, headers=ctx.headers)
        if resp.status_code == 200 and resp.json().get("status") == "loaded":
            return dict(resp.json())
        await asyncio.sleep(POLL_INTERVAL)  # polling the ledger, the batch's readiness signal
    raise RuntimeError(f"batch {batch_id} not loaded after {STAGE_TIMEOUT:.0f}s: {resp.text}")


async def produce(client: httpx.AsyncClient, ctx: Context, s3_uri: str) -> str:
    producer = ctx.url("BATCHPIPE_PRODUCER_URL")
    resp = await client.post(
        f"{producer}/v1/runs", json={"s3_uri": s3_uri, "dataset": DATASET}, headers=ctx.headers
    )
    resp.raise_for_status()
    batch_id = str(resp.json()["batch_id"])
    deadline = time.monotonic() + STAGE_TIMEOUT
    while time.monotonic() < deadline:
        run = (await client.get(f"{producer}/v1/runs/{batch_id}", headers=ctx.headers)).json()
        if run["state"] == "succeeded":
            return batch_id
        if run["state"] == "failed":
            raise RuntimeError(f"producer run failed: {run.get('error')}")
        await asyncio.sleep(POLL_INTERVAL)  # polling the run's state
    raise RuntimeError(f"producer run {batch_id} not done after {STAGE_TIMEOUT:.0f}s")


def to_inbox(ctx: Context, path: Path) -> str:
    """Place the file in the uploader's inbox folder; returns its name there."""
    inbox = Path(ctx.env["BATCHPIPE_INBOX_DIR"])
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / path.name
    if not target.exists():
        shutil.copyfile(path, target)
    return target.name


async def upload(client: httpx.AsyncClient, ctx: Context, name: str) -> str:
    resp = await client.post(
        f"{ctx.url('BATCHPIPE_UPLOADER_URL')}/v1/uploads",
        json={"path": name, "dataset": DATASET},
        headers=ctx.headers,
    )
    resp.raise_for_status()
    return str(resp.json()["s3_uri"])


def sink_urls() -> list[str]:
    """Every sink replica's URL, as the stack's configuration names them."""
    config = StackConfig.load()
    spec = next(s for s in SERVICE_SPECS if s.name == "pg-sink")
    return [Service(config, spec, n).url for n in range(1, config.sink_replicas + 1)]


async def sink_alone(ctx: Context, name: str, sinks: list[str]) -> float:
    """Pause every sink replica, produce the whole batch into Kafka, then time the replicas
    draining it."""
    async with httpx.AsyncClient(timeout=600) as client:
        s3_uri = await upload(client, ctx, name)
        for sink in sinks:
            (await client.post(f"{sink}/v1/pause", headers=ctx.headers)).raise_for_status()
        try:
            batch_id = await produce(client, ctx, s3_uri)
        finally:
            for sink in sinks:
                (await client.post(f"{sink}/v1/resume", headers=ctx.headers)).raise_for_status()
        started = time.perf_counter()
        await wait_loaded(client, ctx, batch_id)
        return time.perf_counter() - started


async def end_to_end(ctx: Context, name: str, parts: dict[str, list[float]] | None = None) -> float:
    """Local file (in the inbox) -> S3 -> Kafka -> raw table, until the ledger reconciles."""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client:
        s3_uri = await upload(client, ctx, name)
        uploaded = time.perf_counter()
        batch_id = await produce(client, ctx, s3_uri)
        produced = time.perf_counter()
        ledger = await wait_loaded(client, ctx, batch_id)
    if parts is not None:
        done = time.perf_counter()
        for part, seconds in (
            ("upload", uploaded - started),
            ("produce", produced - uploaded),
            ("sink tail", done - produced),
        ):
            parts.setdefault(part, []).append(seconds)
    expected, loaded, rejected = ledger["expected"], ledger["loaded"], ledger["rejected"]
    assert isinstance(expected, dict)
    assert isinstance(loaded, dict)
    assert isinstance(rejected, dict)
    if loaded["rows"] + rejected["sink"] + rejected["producer"] != expected["rows_read"]:
        raise RuntimeError(f"batch {batch_id} did not reconcile: {ledger}")
    return time.perf_counter() - started


def dbt_build(ctx: Context) -> float:
    started = time.perf_counter()
    dbt = subprocess.run(
        # incremental, as in production: the marts take in the batch just loaded
        [str(DBT), "build", "--project-dir", "dbt", "--profiles-dir", "dbt"],
        cwd=REPO_ROOT,
        env={**os.environ, **ctx.env},
        capture_output=True,
        text=True,
        check=False,
    )
    if dbt.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{dbt.stdout[-3000:]}")
    return time.perf_counter() - started


Parts = dict[str, list[float]]
Stage = Callable[[Context, Path, Parts], float]
"""A batchpipe stage run on a file; end to end records its parts' seconds."""


def stage_sink_alone(ctx: Context, path: Path, _parts: Parts) -> float:
    return asyncio.run(sink_alone(ctx, to_inbox(ctx, path), sink_urls()))


def stage_end_to_end(ctx: Context, path: Path, parts: Parts) -> float:
    return asyncio.run(end_to_end(ctx, to_inbox(ctx, path), parts))


def stage_with_dbt(ctx: Context, path: Path, _parts: Parts) -> float:
    return stage_end_to_end(ctx, path, {}) + dbt_build(ctx)


# --- the inputs ----------------------------------------------------------------------------


def bank_file(work: Path, rows: int, seed: int) -> Path:
    path = work / f"bank-{rows}-{seed}.csv"
    if not path.exists():
        generate_bank_file(path, rows, seed)
    path.chmod(0o644)
    return path


def stack_env(config: StackConfig | None = None) -> dict[str, str]:
    """The local stack's ``BATCHPIPE_*`` variables (its env file, else derived)."""
    config = config or StackConfig.load()
    env = read_env_file(str(config.env_file)) if config.env_file.exists() else {}
    return env or stack_environment(config)
