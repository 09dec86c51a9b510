"""A seconds-long run of the benchmark script, so that `make bench` keeps working.

It measures nothing worth reading (2,000 rows): it checks that every loader ran, loaded the
rows it was given, and that the page and its chart were written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import copy_ceiling
from bench.run import main

pytestmark = pytest.mark.integration


def test_tiny_benchmark_writes_the_page(tmp_path: Path, stack_env: dict[str, str]) -> None:
    main(["--tiny", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    names = [r["name"] for r in results]
    for expected in (
        "server-side COPY (the limit)",
        "client COPY of the sink's wire rows into the raw table's shape",
        "pandas + INSERT per row",
        "dlt read_csv",
        "dlt read_csv_duckdb + csv",
        "batchpipe sink alone, 1 replica",
        "batchpipe sink alone, 2 replicas",
        "batchpipe end to end, 1 replica",
        "batchpipe end to end, 2 replicas",
        "batchpipe end to end + dbt build",
    ):
        assert expected in names
    for result in results:
        assert result["seconds"]
        assert all(s > 0 for s in result["seconds"])
        if result["name"].startswith(("real-world:", "validation alone:")):
            continue  # paired with the clean / plain file of the same rows, not with COPY
        # measured in pairs: a COPY of the same file beside every measurement
        assert len(result["copy_seconds"]) == len(result["seconds"])
        assert result["x_copy_median_of_pairs"] > 0
    real_world = [r for r in results if r["name"].startswith(("real-world:", "validation alone:"))]
    assert any(r["ratio_to_its_pair"] is not None for r in real_world), real_world
    e2e = next(r for r in results if r["name"] == "batchpipe end to end, 1 replica")
    assert set(e2e["parts"]) == {"upload", "produce", "sink tail"}
    services = e2e["rss_mb"]
    assert {"uploader", "s3-producer"} <= set(services)
    assert any(name.startswith("pg-sink") for name in services)
    # where the CPU went: the servers' processes too (PostgreSQL with its backends)
    assert {"postgres", "kafka", "s3", "uploader", "s3-producer"} <= set(e2e["cpu_s"])
    # a tiny run's share of one process can be under the clock's 10 ms tick: the whole is not
    assert sum(sum(seconds) for seconds in e2e["cpu_s"].values()) > 0
    assert all(b > 0 for b in e2e["busy"])
    sink_alone = next(r for r in results if r["name"] == "batchpipe sink alone, 1 replica")
    assert sink_alone["cpu_s"] == {}  # its seconds are the drain's only
    page = (tmp_path / "benchmarks.md").read_text()
    assert "## Where the CPU goes" in page
    assert "| target | measured | met |" in page
    assert "x COPY (median of pairs)" in page
    assert (tmp_path / "benchmarks.png").stat().st_size > 0
    # the history curve: one dbt build after a new batch per history size
    assert "## History curve: dbt after one new batch" in page
    assert "| 2,000 | 1,000 |" in page and "| 5,000 | 1,000 |" in page


@pytest.mark.parametrize("streams", [1, 2])
def test_tiny_copy_ceiling_copies_every_row_of_each_variant(
    stack_env: dict[str, str], streams: int
) -> None:
    results = copy_ceiling.main(["--rows", "2000", "--reps", "1", "--streams", str(streams)])
    assert [(label, copied) for label, copied, _rate in results] == [
        ("contract columns", 2000),
        ("as the sink copies", 2000),
        ("as the sink copies, no BRIN index", 2000),
        ("with the batch id on every row", 2000),
    ]
    assert all(rate > 0 for _label, _copied, rate in results)
