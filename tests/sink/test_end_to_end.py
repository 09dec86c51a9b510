"""Upload -> produce -> sink of the generated bank file, through the real uploader and
s3-producer services: raw holds exactly the valid rows, rejects exactly the planted rows."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from batchpipe_cli.generate import iter_lines
from tests.sink.checks import duplicate_rows, raw_totals, wait_loaded
from tests.sink.conftest import (
    Dataset,
    ServiceProcess,
    SinkFactory,
    spawn_app,
    stop_all,
    wait_ready,
)

PLANTED = (
    "2022-01-01,RETAIL,Pune,notanumber,5",  # wrong type
    "2022-01-02,RETAIL,Pune,10.00,99999999999",  # out of range
    "2022-01-03,RETAIL,Pune,10.00",  # missing field
    "2022-01-04,SPACE,Pune,10.00,3",  # value not allowed
)


@pytest.fixture
def upstream(
    stack_env: dict[str, str], dataset: Dataset, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess, Path]]:
    """The uploader and the s3-producer on the test's dataset, and their inbox folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = {
        **os.environ,
        **stack_env,
        "BATCHPIPE_CONTRACTS_DIR": str(dataset.contracts_dir),
        "BATCHPIPE_INBOX_DIR": str(inbox),
        "BATCHPIPE_LOG_FORMAT": "json",
    }
    token = stack_env["BATCHPIPE_API_TOKEN"]
    services = [
        spawn_app("batchpipe_uploader.app:app", "uploader", env, tmp_path, token),
        spawn_app("batchpipe_producer.app:app", "s3-producer", env, tmp_path, token),
    ]
    try:
        for service in services:
            wait_ready(service)
        yield services[0], services[1], inbox
    finally:
        stop_all(services)


async def test_upload_produce_sink_of_the_generated_bank_file(
    dataset: Dataset,
    start_sink: SinkFactory,
    upstream: tuple[ServiceProcess, ServiceProcess, Path],
    warehouse: asyncpg.Connection,
) -> None:
    uploader, producer, inbox = upstream
    rows = 40_000
    text = "".join(iter_lines(rows, seed=11))
    (inbox / "bank.csv").write_text(text + "\n".join(PLANTED) + "\n")
    valid = list(csv.reader(io.StringIO(text, newline="")))[1:]
    sink = start_sink()
    auth = {"Authorization": f"Bearer {uploader.token}"}

    upload = httpx.post(
        f"{uploader.url}/v1/uploads",
        json={"path": "bank.csv", "dataset": dataset.contract.name},
        headers=auth,
        timeout=60,
    )
    assert upload.status_code == 200, upload.text
    run = httpx.post(
        f"{producer.url}/v1/runs",
        json={"s3_uri": upload.json()["s3_uri"], "dataset": dataset.contract.name},
        headers=auth,
        timeout=60,
    )
    assert run.status_code == 202, run.text
    batch_id = run.json()["batch_id"]
    ledger = await wait_loaded(sink, batch_id, timeout=180)

    expected = (
        rows,
        sum((Decimal(r[3]) for r in valid), Decimal(0)),
        sum(int(r[4]) for r in valid),
    )
    assert await raw_totals(warehouse, dataset, batch_id) == expected
    assert await duplicate_rows(warehouse, dataset) == 0
    rejects = await warehouse.fetch(
        "SELECT source_row, stage, errors FROM batchpipe.rejects WHERE batch_id = $1 "
        "ORDER BY source_row",
        batch_id,
    )
    assert [r["source_row"] for r in rejects] == list(range(rows + 1, rows + 1 + len(PLANTED)))
    assert all(r["stage"] == "producer" and '"reason"' in r["errors"] for r in rejects)
    assert ledger["expected"]["rows_read"] == rows + len(PLANTED)
    assert ledger["loaded"]["rows"] == rows
    assert ledger["rejected"] == {"producer": len(PLANTED), "sink": 0}
