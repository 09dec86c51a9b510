"""``make bench``: batchpipe side by side with the physical limit and the usual alternatives.

One machine, one run, the same generated bank file. Every figure is measured **in pairs**: right
before each measurement, PostgreSQL's server-side COPY of the same file (the limit) is timed, and
a row's speed is the median of its per-pair ratios (measurement rate / COPY rate), reported with
the range of the COPY's own absolute speed over those pairs, so that a busy machine moves both
sides of a ratio, not the ratio. The baselines load a fresh table every repetition; batchpipe
appends a new batch (new content, so a new batch id) to its raw table every repetition, as it
does in production, and its ledger and dbt state are left consistent:

1. the limit: server-side ``COPY ... FROM '<file>'`` into the same PostgreSQL;
2. the tutorial loader: pandas + one INSERT per row (on 100k rows, rate only);
3. dlt: idiomatic ``filesystem | read_csv`` and its fastest path (``read_csv_duckdb`` + csv loader);
4. batchpipe's sink alone: a batch already in Kafka -> rows committed in PostgreSQL, with one
   and with two sink replicas;
5. batchpipe end to end: local file -> S3 -> Kafka -> raw table, reconciled in the ledger (one
   and two replicas), with each stage's share (upload, produce, the sink's tail after it);
6. the same plus ``dbt build`` of the marts;
the scaling curve (end-to-end time and peak RSS for several file sizes), real-world files
(``bench/real_world.py``: dirty rows end to end, null markers, formats, Parquet, JSON Lines), and
the history curve (``dbt build`` after one new batch on top of growing history,
``bench/history.py``).

Runs against the local stack with its services (``batchpipe stack up``); the alternatives run
in ``.venvs/bench`` (``bench/baselines.py``). Writes ``docs/benchmarks.md`` and a PNG chart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import httpx

from batchpipe_cli.generate import generate_bank_file
from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.envfile import read_env_file, stack_environment
from batchpipe_cli.stack.manager import scale_sink
from batchpipe_cli.stack.manager import status as stack_status
from batchpipe_cli.stack.services import SERVICE_SPECS, Service
from batchpipe_common.contracts import load_contract
from batchpipe_common.ddl import column_ddl
from batchpipe_common.settings import REPO_ROOT
from bench import real_world
from bench.cpu import cpu_seconds
from bench.history import Point, history_curve, history_section, splice_section
from bench.rss import PeakRss

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


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


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


# --- the run -------------------------------------------------------------------------------


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


def run(args: argparse.Namespace) -> list[Measure]:
    config = StackConfig.load()
    env = stack_env(config)
    work = Path(tempfile.mkdtemp(prefix="batchpipe-bench-"))
    work.chmod(0o755)  # server-side COPY reads the file as the PostgreSQL server user
    ctx = Context(env=env, work=work, token=env.get("BATCHPIPE_API_TOKEN", ""))
    rows, reps = args.rows, args.reps
    results: list[Measure] = []
    replicas = config.sink_replicas
    try:
        base = bank_file(work, rows, seed=1)
        limit = Measure("server-side COPY (the limit)", rows)
        for _ in range(reps):
            limit.pair(ctx, base, lambda: asyncio.run(copy_limit(ctx, base)))
        log(f"limit: {limit.rate:,.0f} rows/s")
        results.append(limit)
        from bench import copy_ceiling  # it imports this module

        dsn = ctx.env["BATCHPIPE_PG_ADMIN_DSN"]
        ceiling = Measure("client COPY of the sink's wire rows into the raw table's shape", rows)
        for _ in range(reps):
            ceiling.pair(ctx, base, lambda: asyncio.run(copy_ceiling.sink_ceiling(dsn, base)))
        ceiling.note = (
            "the sink's own ceiling: lineage columns on every row, BRIN index, "
            f"{copy_ceiling.SINK_STREAMS} connections at once as one replica"
        )
        log(f"sink ceiling: {ceiling.rate:,.0f} rows/s, {ceiling.paired_ratio:.2f}x COPY")
        results.append(ceiling)

        small = bank_file(work, min(rows, args.insert_rows), seed=1)
        insert = Measure("pandas + INSERT per row", min(rows, args.insert_rows))
        insert.pair(ctx, small, lambda: baseline(ctx, "pandas-insert", small, insert.rows))
        insert.note = f"on {insert.rows:,} rows"
        results.append(insert)
        log(f"pandas insert: {insert.rate:,.0f} rows/s")

        dlt_loaders = (("dlt-csv", "dlt read_csv"), ("dlt-arrow", "dlt read_csv_duckdb + csv"))
        for loader, label in dlt_loaders:
            m = Measure(label, rows)
            for _ in range(args.baseline_reps or reps):
                m.pair(ctx, base, partial(baseline, ctx, loader, base, rows))
            results.append(m)
            log(f"{label}: {m.rate:,.0f} rows/s")

        stages: tuple[tuple[str, int, Stage], ...] = (
            ("batchpipe sink alone, 1 replica", 1, stage_sink_alone),
            ("batchpipe sink alone, 2 replicas", 2, stage_sink_alone),
            ("batchpipe sink alone, 3 replicas", 3, stage_sink_alone),
            ("batchpipe end to end, 1 replica", 1, stage_end_to_end),
            ("batchpipe end to end, 2 replicas", 2, stage_end_to_end),
            ("batchpipe end to end + dbt build", 1, stage_with_dbt),
        )
        # a new seed per run: the same content would be the same batch id, which the
        # producer and the sink (rightly) treat as already done
        seed = time.time_ns() % 1_000_000_007
        for label, sink_replicas, stage in stages:
            scale_sink(config, sink_replicas, report=lambda _line: None)
            config = StackConfig.load()
            m = Measure(label, rows)
            for _ in range(reps):
                seed += 1
                path = bank_file(work, rows, seed)
                stage_run = partial(stage, ctx, path, m.parts)
                if stage is not stage_sink_alone:  # it times the drain only, after an upload
                    # and a produce: its CPU would not belong to its seconds
                    stage_run = partial(with_cpu, m, service_pids(config, True), stage_run)
                with PeakRss(service_pids(config)) as peak:
                    m.pair(ctx, path, stage_run)
                for name, mb in peak.mb.items():
                    m.rss_mb[name] = max(m.rss_mb.get(name, 0.0), mb)
                path.unlink()
            results.append(m)
            log(f"{label}: {m.rate:,.0f} rows/s, {m.paired_ratio:.2f}x COPY, RSS {m.rss_mb}")
        scale_sink(config, replicas, report=lambda _line: None)

        for size in args.scaling:
            m = Measure(f"scaling: end to end, {size:,} rows", size)
            seed += 1
            path = bank_file(work, size, seed)
            with PeakRss(service_pids(config)) as peak:
                m.pair(ctx, path, partial(stage_end_to_end, ctx, path, m.parts))
            m.rss_mb = dict(peak.mb)
            path.unlink()
            results.append(m)
            log(f"{m.name}: {m.median:.1f}s, peak RSS {m.rss_mb}")

        pairs = real_world.dirty_pairs(
            ctx, rows, reps, seed + 1, bank_file, partial(stage_end_to_end, parts={}), Measure
        )
        for m in [*pairs, *real_world.validation_alone(rows, reps, Measure)]:
            results.append(m)
            log(f"{m.name}: {m.rate:,.0f} rows/s {m.note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem:.0f} GiB",
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> None:
    from bench.report import write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--insert-rows", type=int, default=100_000)
    parser.add_argument(
        "--baseline-reps", type=int, default=0, help="runs of each dlt loader (default: --reps)"
    )
    parser.add_argument(
        "--scaling",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[100_000, 1_000_000, 5_000_000],
    )
    parser.add_argument(
        "--history",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1_000_000, 10_000_000, 30_000_000],
        help="history sizes (rows) for the dbt history curve",
    )
    parser.add_argument("--history-batch", type=int, default=1_000_000)
    parser.add_argument(
        "--only-history",
        action="store_true",
        help="run only the history curve and replace its section in benchmarks.md",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.reps, args.insert_rows, args.scaling = 2_000, 1, 500, [1_000, 2_000]
        args.history, args.history_batch = [2_000, 5_000], 1_000
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m bench.run", *given]) if given else "make bench"
    page = args.out / "benchmarks.md"
    if not args.only_history:
        write_report(run(args), machine(), args.out, command)
    label = command

    def write_section(points: list[Point]) -> None:
        section = history_section(points, label)
        page.write_text(splice_section(page.read_text() if page.exists() else "", section))
        log(f"wrote {page}")

    history_curve(stack_env(), args.history, args.history_batch, log=log, on_point=write_section)


if __name__ == "__main__":
    main()
