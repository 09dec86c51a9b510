"""Any dataset in minutes, against the running local stack: infer a contract, check the file,
register the contract by writing it into the contracts folder, ingest; no service restarts.

Three files of different shapes (``tests/cli/shapes.py``) load with exact counts, sums and null
counts computed from the files; a changed contract version is taken in without a restart and
the same file loads again as a new batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from batchpipe_cli.generate import generate_bank_file
from batchpipe_common.settings import REPO_ROOT
from tests.cli.shapes import Shape, members_jsonl, orders_csv, sensors_csv

BATCHPIPE = Path(sys.executable).parent / "batchpipe"
SERVICES = ("uploader", "s3-producer", "pg-sink")


def _batchpipe(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [str(BATCHPIPE), *args], capture_output=True, text=True, check=False, timeout=600
    )
    if check and run.returncode != 0:
        pytest.fail(f"batchpipe {' '.join(args)} exited {run.returncode}: {run.stderr}")
    return run


def _service_pids(stack_dir: Path) -> dict[str, int]:
    pids = {}
    for path in (stack_dir / "pids").glob("*.pid"):
        if path.stem.startswith(SERVICES):
            pids[path.stem] = int(path.read_text().split()[0])
    return pids


def _query(dsn: str, sql: str, *args: object) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchrow(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def registry(stack_env: dict[str, str], admin_dsn: str) -> Iterator[Callable[[str, str], Path]]:
    """Writes contracts into the stack's contracts folder; removes them and their raw tables."""
    folder = Path(stack_env["BATCHPIPE_CONTRACTS_DIR"])
    written: list[tuple[Path, str]] = []

    def register(name: str, text: str) -> Path:
        path = folder / f"{name}.yaml"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # whole file at once: a service never reads half a contract
        written.append((path, name))
        return path

    yield register
    for path, name in written:
        path.unlink(missing_ok=True)
        _query(admin_dsn, f'DROP TABLE IF EXISTS raw."{name}"')


def _warehouse_dsn(admin_dsn: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + "/warehouse"


def _ingest(path: Path, dataset: str) -> dict[str, Any]:
    run = _batchpipe("ingest", str(path), "--dataset", dataset, "--json")
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _assert_loaded_as_the_file_says(
    shape: Shape, name: str, result: dict[str, Any], dsn: str
) -> None:
    assert result["reconciles"] is True
    assert (result["rows_read"], result["rows_valid"], result["rows_rejected"]) == (
        shape.rows,
        shape.rows,
        0,
    )
    assert result["rows_loaded"] == shape.rows
    table = f'raw."{name}"'
    count = _query(
        dsn, f"SELECT count(*) AS n FROM {table} WHERE _batch_id = $1", result["batch_id"]
    )
    assert count["n"] == shape.rows
    for column, expected in shape.sums.items():
        row = _query(
            dsn,
            f'SELECT sum("{column}")::numeric AS s, count(*) FILTER (WHERE "{column}" IS NULL) '
            f"AS nulls FROM {table} WHERE _batch_id = $1",
            result["batch_id"],
        )
        assert Decimal(row["s"]) == expected, column
        assert row["nulls"] == shape.nulls.get(column, 0), column


def _review_orders(text: str) -> str:
    """The reviewer's edit the walkthrough shows: drop a column, ignore it in the file."""
    doc = yaml.safe_load(text)
    doc["columns"] = [c for c in doc["columns"] if c["name"] != "internal_ref"]
    doc["extra_columns"] = "ignore"
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize(
    ("make", "review"),
    [(sensors_csv, None), (orders_csv, _review_orders), (members_jsonl, None)],
    ids=["na-markers-iso-timestamps", "day-first-null-extra-column", "jsonl-missing-keys"],
)
def test_infer_check_register_ingest_without_restart(
    tmp_path: Path,
    stack_env: dict[str, str],
    admin_dsn: str,
    registry: Callable[[str, str], Path],
    make: Callable[[Path], Shape],
    review: Callable[[str], str] | None,
) -> None:
    stack_dir = Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack"))
    pids_before = _service_pids(stack_dir)
    shape = make(tmp_path)
    name = f"t12_{shape.path.stem}_{uuid.uuid4().hex[:8]}"
    proposed = tmp_path / f"{name}.yaml"
    _batchpipe("contract", "infer", str(shape.path), "--name", name, "--out", str(proposed))
    text = proposed.read_text()
    if review is not None:
        text = review(text)
        proposed.write_text(text)
    checked = _batchpipe(
        "contract", "check", str(shape.path), "--contract", str(proposed), "--json"
    )
    assert json.loads(checked.stdout)["rows_rejected"] == 0

    registry(name, text)
    result = _ingest(shape.path, name)
    _assert_loaded_as_the_file_says(shape, name, result, _warehouse_dsn(admin_dsn))
    listed = json.loads(_batchpipe("batch", "list", "--dataset", name, "--json").stdout)
    assert [b["batch_id"] for b in listed] == [result["batch_id"]]
    assert _service_pids(stack_dir) == pids_before, "a service was restarted"


def test_changed_contract_version_loads_the_same_file_as_a_new_batch(
    tmp_path: Path,
    stack_env: dict[str, str],
    admin_dsn: str,
    registry: Callable[[str, str], Path],
) -> None:
    shape = sensors_csv(tmp_path)
    name = f"t12_versions_{uuid.uuid4().hex[:8]}"
    proposed = tmp_path / "proposed.yaml"
    _batchpipe("contract", "infer", str(shape.path), "--name", name, "--out", str(proposed))
    registry(name, proposed.read_text())
    first = _ingest(shape.path, name)
    doc = yaml.safe_load(proposed.read_text())
    doc["version"] = 2
    doc["description"] = "version 2: status kept, humidity described"
    registry(name, yaml.safe_dump(doc, sort_keys=False))
    second = _ingest(shape.path, name)
    assert second["batch_id"] != first["batch_id"]
    assert second["contract_version"] == 2
    dsn = _warehouse_dsn(admin_dsn)
    for result in (first, second):
        _assert_loaded_as_the_file_says(shape, name, result, dsn)
    shown = json.loads(_batchpipe("batch", "show", second["batch_id"], "--json").stdout)
    assert shown["status"] == "loaded"
    assert shown["reconciles"] is True


def test_registering_while_a_batch_loads_keeps_it_exactly_once(
    tmp_path: Path,
    stack_env: dict[str, str],
    admin_dsn: str,
    registry: Callable[[str, str], Path],
) -> None:
    """The sink re-subscribes (a rebalance) while another dataset's batch is being applied:
    that batch still loads every row once."""
    bank = generate_bank_file(tmp_path / "bank.csv", rows=60_000, seed=uuid.uuid4().int % 10**6)
    loading = subprocess.Popen(
        [str(BATCHPIPE), "ingest", str(bank), "--dataset", "bank_transactions", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shape = sensors_csv(tmp_path)
    names = []
    for _ in range(3):  # several re-subscriptions during the load
        name = f"t12_during_{uuid.uuid4().hex[:8]}"
        proposed = tmp_path / f"{name}.yaml"
        _batchpipe("contract", "infer", str(shape.path), "--name", name, "--out", str(proposed))
        registry(name, proposed.read_text())
        names.append(name)
    out, err = loading.communicate(timeout=600)
    assert loading.returncode == 0, err
    result = json.loads(out)
    assert result["reconciles"] is True
    assert result["rows_loaded"] == result["rows_read"] == 60_000
    rows = _query(
        _warehouse_dsn(admin_dsn),
        "SELECT count(*) AS n, count(DISTINCT _source_row) AS distinct_rows"
        " FROM raw.bank_transactions WHERE _batch_id = $1",
        result["batch_id"],
    )
    assert (rows["n"], rows["distinct_rows"]) == (60_000, 60_000)
    # and the datasets registered meanwhile load too
    last = _ingest(shape.path, names[-1])
    _assert_loaded_as_the_file_says(shape, names[-1], last, _warehouse_dsn(admin_dsn))


def test_unknown_or_broken_dataset_fails_in_one_line(
    tmp_path: Path, stack_env: dict[str, str], registry: Callable[[str, str], Path]
) -> None:
    shape = sensors_csv(tmp_path)
    name = f"t12_missing_{uuid.uuid4().hex[:8]}"
    run = _batchpipe("ingest", str(shape.path), "--dataset", name, check=False)
    assert run.returncode == 1
    assert f"unknown dataset '{name}'" in run.stderr
    assert "Traceback" not in run.stderr
    registry(name, f"name: {name}\nversion: 1\nformat: csv\ncolumns: []\n")
    broken = _batchpipe("ingest", str(shape.path), "--dataset", name, check=False)
    assert broken.returncode == 1
    assert "cannot be used" in broken.stderr and "columns" in broken.stderr


def test_no_wait_returns_the_batch_that_batch_show_then_follows(
    tmp_path: Path, stack_env: dict[str, str], registry: Callable[[str, str], Path]
) -> None:
    shape = members_jsonl(tmp_path)
    name = f"t12_nowait_{uuid.uuid4().hex[:8]}"
    proposed = tmp_path / f"{name}.yaml"
    _batchpipe("contract", "infer", str(shape.path), "--name", name, "--out", str(proposed))
    registry(name, proposed.read_text())
    started = json.loads(
        _batchpipe("ingest", str(shape.path), "--dataset", name, "--json", "--no-wait").stdout
    )
    assert started["batch_id"].startswith(f"{name}-v1-")
    # the same file again waits for the same batch (same content, same contract version)
    waited = _ingest(shape.path, name)
    assert waited["batch_id"] == started["batch_id"]
    assert waited["rows_loaded"] == shape.rows
    shown = _batchpipe("batch", "show", started["batch_id"])
    assert f"rows_loaded: {shape.rows}" in shown.stdout
    missing = _batchpipe("batch", "show", f"{name}-v1-{'0' * 20}", check=False)
    assert missing.returncode == 1
    assert "knows no batch" in missing.stderr
