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

This module is the runner: the order of the rows, the pairs and repetitions, the sink replicas
of each stage, the machine's description and the command line. The stages it times (1-6, the
bank file, the stack's environment) and ``Measure`` are ``bench/stages.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from batchpipe_cli.stack.config import StackConfig
from batchpipe_cli.stack.manager import scale_sink
from batchpipe_common.settings import REPO_ROOT
from bench import copy_ceiling, real_world
from bench.history import Point, history_curve, history_section, splice_section
from bench.rss import PeakRss
from bench.stages import (
    Context,
    Measure,
    Stage,
    bank_file,
    baseline,
    copy_limit,
    service_pids,
    stack_env,
    stage_end_to_end,
    stage_sink_alone,
    stage_with_dbt,
    with_cpu,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the run -------------------------------------------------------------------------------


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
        dsn = ctx.env["BATCHPIPE_PG_ADMIN_DSN"]
        ceiling = Measure("client COPY of the sink's wire rows into the raw table's shape", rows)
        for _ in range(reps):
            ceiling.pair(ctx, base, lambda: asyncio.run(copy_ceiling.sink_ceiling(dsn, base)))
        ceiling.note = (
            "the sink's own ceiling: `_source_row` on every row, `_batch_id` from its default, "
            "BRIN index, "
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
