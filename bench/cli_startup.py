"""``make bench``'s start-up line: how long ``batchpipe --help`` takes, against its budget.

The CLI's budget is 0.3 s for ``--help`` (issue 16: a CLI that answers at once). Each sample
is a fresh process, as a user types it; the median of ``--runs`` samples is reported, beside
the floor of this machine (a Python that only imports typer, which the CLI cannot go below)
and the load average, since a shared machine moves both. A benchmark line, not a test: a
slow machine reports a slow number instead of failing a build.

    python -m bench.cli_startup [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BUDGET_S = 0.3
BATCHPIPE = Path(sys.executable).parent / "batchpipe"


@dataclass(frozen=True)
class StartupResult:
    help_s: float
    floor_s: float
    runs: int
    load: float

    @property
    def within_budget(self) -> bool:
        return self.help_s <= BUDGET_S

    def line(self) -> str:
        verdict = "within" if self.within_budget else "OVER"
        return (
            f"cli start-up: `batchpipe --help` {self.help_s:.3f} s (median of {self.runs}; "
            f"budget {BUDGET_S:.1f} s: {verdict}); floor `python -c 'import typer'` "
            f"{self.floor_s:.3f} s; load average {self.load:.1f}"
        )


def _median_seconds(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(runs: int = 9) -> StartupResult:
    _median_seconds([str(BATCHPIPE), "--help"], 1)  # warm the file cache once
    return StartupResult(
        help_s=_median_seconds([str(BATCHPIPE), "--help"], runs),
        floor_s=_median_seconds([sys.executable, "-c", "import typer"], runs),
        runs=runs,
        load=os.getloadavg()[0],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    print(measure(args.runs).line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
