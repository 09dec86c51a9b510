"""``bench/cli_startup.py`` keeps working: one sample of each, a readable line. It asserts no
time (the budget is reported by ``make bench``, not enforced by a test)."""

from __future__ import annotations

import re

from bench.cli_startup import BUDGET_S, StartupResult, measure


def test_the_start_up_line_reports_help_floor_and_budget() -> None:
    result = measure(runs=1)
    assert result.help_s > 0 and result.floor_s > 0 and result.runs == 1
    line = result.line()
    assert re.fullmatch(
        r"cli start-up: `batchpipe --help` \d+\.\d{3} s \(median of 1; budget 0\.3 s: "
        r"(within|OVER)\); floor `python -c 'import typer'` \d+\.\d{3} s; load average [\d.]+",
        line,
    ), line


def test_the_verdict_follows_the_budget() -> None:
    assert StartupResult(BUDGET_S, 0.1, 9, 0.0).within_budget
    assert "OVER" in StartupResult(BUDGET_S + 0.01, 0.1, 9, 0.0).line()
