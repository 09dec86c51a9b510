"""The benchmark's results page (Markdown table + PNG chart) and its targets."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from batchpipe_common.settings import REPO_ROOT

if TYPE_CHECKING:
    from bench.run import Measure

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
    """(target, measured, met) for the issue's targets, all ratios measured in this run."""
    limit = _find(results, "server-side COPY")
    e2e = _find(results, "batchpipe end to end")
    sink = _find(results, "batchpipe sink alone")
    dlt_fast = _find(results, "dlt read_csv_duckdb")
    rows: list[tuple[str, str, bool]] = []
    if limit and e2e:
        ratio = e2e.rate / limit.rate
        rows.append(("end to end >= 0.35x the limit", f"{ratio:.2f}x", ratio >= 0.35))
    if e2e and dlt_fast:
        ratio = e2e.rate / dlt_fast.rate
        rows.append(("end to end >= 3x dlt's fastest path", f"{ratio:.1f}x", ratio >= 3))
    if limit and sink:
        ratio = sink.rate / limit.rate
        rows.append(("sink alone >= 0.7x the limit", f"{ratio:.2f}x", ratio >= 0.7))
    for prefix, target, floor in REAL_WORLD_TARGETS:
        m = _find(results, prefix)
        if m is not None and m.ratio is not None:
            rows.append((target, f"{m.ratio:.2f}x", m.ratio >= floor))
    peak = max((mb for m in results for mb in m.rss_mb.values()), default=0.0)
    rows.append((f"no service above {RSS_LIMIT_MB:.0f} MB RSS", f"{peak:.0f} MB", peak <= 256))
    return rows


def write_report(
    results: Sequence[Measure], machine: dict[str, str], out: Path, command: str
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    limit = _find(results, "server-side COPY")
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
        "",
        "| loader | rows | runs | median s (min-max) | rows/s | x limit | peak RSS per service |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for m in results:
        if m.name.startswith("scaling"):
            continue
        ratio = f"{m.rate / limit.rate:.2f}" if limit else "-"
        rss = ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(m.rss_mb.items())) or "-"
        spread = f"{m.median:.2f} ({min(m.seconds):.2f}-{max(m.seconds):.2f})"
        note = f" ({m.note})" if m.note else ""
        lines.append(
            f"| {m.name}{note} | {m.rows:,} | {len(m.seconds)} | {spread} | "
            f"{m.rate:,.0f} | {ratio} | {rss} |"
        )
    scaling = [m for m in results if m.name.startswith("scaling")]
    if scaling:
        lines += [
            "",
            "## Scaling: end to end",
            "",
            "| rows | seconds | rows/s | peak RSS per service |",
            "|---:|---:|---:|---|",
        ]
        for m in scaling:
            rss = ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(m.rss_mb.items())) or "-"
            lines.append(f"| {m.rows:,} | {m.median:.2f} | {m.rate:,.0f} | {rss} |")
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
                {"name": m.name, "rows": m.rows, "seconds": m.seconds, "rss_mb": m.rss_mb}
                for m in results
            ],
            indent=2,
        )
    )
    return page


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
