"""The benchmark's results page (Markdown table + PNG chart) and its targets."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from batchpipe_common.settings import REPO_ROOT

if TYPE_CHECKING:
    from bench.stages import Measure

BENCH_PY = REPO_ROOT / ".venvs" / "bench" / "bin" / "python"
RSS_LIMIT_MB = 256.0
REAL_WORLD_TARGETS = (
    ("real-world: 1% bad", "1% bad rows >= 0.8x the clean file's rows/s, end to end", 0.8),
    ("real-world: 5% bad", "5% bad rows >= 0.6x the clean file's rows/s, end to end", 0.6),
    ("validation alone: CSV, NA", "null_values + format + trim >= 0.9x the plain file", 0.9),
    ("validation alone: Parquet, nulls", "Parquet with nulls >= 0.8x without", 0.8),
    ("validation alone: JSON Lines, nulls", "JSON Lines with nulls >= 0.8x without", 0.8),
    ("validation alone: Parquet, no", "Parquet >= 1x the values/s of the same rows as CSV", 1.0),
)


def _find(results: Sequence[Measure], prefix: str) -> Measure | None:
    return next((m for m in results if m.name.startswith(prefix)), None)


def targets(results: Sequence[Measure]) -> list[tuple[str, str, bool]]:
    """(target, measured, met): every ratio is a median of pairs measured beside its COPY."""
    rows: list[tuple[str, str, bool]] = []

    def paired(prefix: str) -> float | None:
        m = _find(results, prefix)
        return m.paired_ratio if m else None

    e2e = paired("batchpipe end to end, 1 replica")
    sink = paired("batchpipe sink alone, 1 replica")
    dlt_fast = paired("dlt read_csv_duckdb")
    if sink is not None:
        rows.append(("sink alone, 1 replica >= 0.7x server COPY", f"{sink:.2f}x", sink >= 0.7))
    if e2e is not None:
        rows.append(("end to end, 1 replica >= 0.5x server COPY", f"{e2e:.2f}x", e2e >= 0.5))
    if e2e is not None and dlt_fast:
        ratio = e2e / dlt_fast
        rows.append(("end to end >= 3x dlt's fastest path", f"{ratio:.1f}x", ratio >= 3))
    for prefix, target, floor in REAL_WORLD_TARGETS:
        m = _find(results, prefix)
        if m is not None and m.ratio is not None:
            rows.append((target, f"{m.ratio:.2f}x", m.ratio >= floor))
    peak = max((mb for m in results for mb in m.rss_mb.values()), default=0.0)
    rows.append((f"no service above {RSS_LIMIT_MB:.0f} MB RSS", f"{peak:.0f} MB", peak <= 256))
    return rows


def _cells(m: Measure) -> tuple[str, str]:
    ratio = m.paired_ratio
    ref = m.reference_rates
    return (
        f"{ratio:.2f}" if ratio is not None else "-",
        f"{ref[0] / 1000:,.0f}k-{ref[1] / 1000:,.0f}k" if ref else "-",
    )


def write_report(
    results: Sequence[Measure], machine: dict[str, str], out: Path, command: str
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
        "",
        "Every row is measured in pairs: PostgreSQL's server-side `COPY` of the same file, then "
        "the loader, alternating. **x COPY** is the median of the per-pair ratios (loader rate / "
        "COPY rate); **COPY rows/s** is the range of the reference's own speed over those pairs "
        "(how busy the machine was).",
        "",
        "| loader | rows | runs | median s (min-max) | rows/s | x COPY (median of pairs) | "
        "COPY rows/s in the pairs | peak RSS per service |",
        "|---|---:|---:|---|---:|---:|---|---|",
    ]
    for m in results:
        if m.name.startswith("scaling"):
            continue
        ratio, ref = _cells(m)
        rss = ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(m.rss_mb.items())) or "-"
        spread = f"{m.median:.2f} ({min(m.seconds):.2f}-{max(m.seconds):.2f})"
        note = f" ({m.note})" if m.note else ""
        lines.append(
            f"| {m.name}{note} | {m.rows:,} | {len(m.seconds)} | {spread} | "
            f"{m.rate:,.0f} | {ratio} | {ref} | {rss} |"
        )
    shares = [m for m in results if m.parts and not m.name.startswith("scaling")]
    if shares:
        lines += [
            "",
            "## Where end to end goes",
            "",
            "Median seconds of each stage within end to end (the sink's tail is the time from "
            "the producer's last acknowledged chunk to the ledger's `loaded`).",
            "",
            "| run | upload | produce | sink tail |",
            "|---|---|---|---|",
        ]
        for m in shares:
            total = m.median
            cells = [
                f"{statistics.median(m.parts[p]):.2f} s "
                f"({statistics.median(m.parts[p]) / total:.0%})"
                for p in ("upload", "produce", "sink tail")
            ]
            lines.append(f"| {m.name} | " + " | ".join(cells) + " |")
    lines += _cpu_section(results)
    scaling = [m for m in results if m.name.startswith("scaling")]
    if scaling:
        lines += [
            "",
            "## Scaling: end to end",
            "",
            "| rows | seconds | rows/s | x COPY (same file) | peak RSS per service |",
            "|---:|---:|---:|---:|---|",
        ]
        for m in scaling:
            rss = ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(m.rss_mb.items())) or "-"
            ratio, _ref = _cells(m)
            lines.append(f"| {m.rows:,} | {m.median:.2f} | {m.rate:,.0f} | {ratio} | {rss} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in targets(results):
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    chart = out / "benchmarks.png"
    if _chart(results, chart):
        lines += ["", f"![rows per second]({chart.name})"]
    page = out / "benchmarks.md"
    notes = out / "benchmarks-notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    page.write_text("\n".join(lines) + "\n")
    (out / "benchmarks.json").write_text(
        json.dumps(
            [
                {
                    "name": m.name,
                    "rows": m.rows,
                    "seconds": m.seconds,
                    "copy_seconds": m.reference_seconds,
                    "x_copy_median_of_pairs": m.paired_ratio,
                    "ratio_to_its_pair": m.ratio,
                    "parts": m.parts,
                    "rss_mb": m.rss_mb,
                    "cpu_s": m.cpu_s,
                    "busy": m.busy,
                }
                for m in results
            ],
            indent=2,
        )
    )
    return page


def _cpu_section(results: Sequence[Measure]) -> list[str]:
    """Median CPU seconds per process of the runs that recorded them, and how busy the
    machine's cores were: a stage at ~100% can only get faster by doing less."""
    measured = [m for m in results if m.cpu_s and m.busy]
    if not measured:
        return []
    names = sorted({name for m in measured for name in m.cpu_s})
    lines = [
        "",
        "## Where the CPU goes",
        "",
        "Median CPU seconds (user + system) each process spent during the run, PostgreSQL's "
        "backends and workers included; **busy** is all of it over wall time x cores. Only "
        "runs whose seconds cover the whole stage (the sink-alone runs time the drain only).",
        "",
        "| run | " + " | ".join(names) + " | total | wall s | busy |",
        "|---|" + "---:|" * (len(names) + 3),
    ]
    for m in measured:
        cells = [f"{statistics.median(m.cpu_s[n]):.2f}" if n in m.cpu_s else "-" for n in names]
        total = sum(statistics.median(v) for v in m.cpu_s.values())
        lines.append(
            f"| {m.name} | " + " | ".join(cells) + f" | {total:.2f} | {m.median:.2f} | "
            f"{statistics.median(m.busy):.0%} |"
        )
    return lines


def _chart(results: Sequence[Measure], path: Path) -> bool:
    """Bar chart of rows/s, drawn by matplotlib in the benchmark's venv."""
    if not BENCH_PY.exists():
        return False
    data = [(m.name, m.rate) for m in results if not m.name.startswith("scaling")]
    proc = subprocess.run(
        [str(BENCH_PY), str(REPO_ROOT / "bench" / "chart.py"), str(path)],
        input=json.dumps(data),
        text=True,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0
