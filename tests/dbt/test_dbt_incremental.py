"""dbt takes in batches, not history, against the real PostgreSQL of the local stack.

Staging takes only the batches the ledger's batch_status marks `loaded`, each once; a rerun
changes nothing; a dataset registered by its contract alone gets a staging table and audit
rows; the per-run tests read the run's new rows and the full-history tests every row.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from batchpipe_common.contracts import parse_contract
from batchpipe_common.settings import REPO_ROOT
from tests.dbt.expected import expected_marts
from tests.dbt.project import project_for_contracts
from tests.dbt.test_dbt_build import assert_marts_equal_python, build, generated_rows, marts
from tests.dbt.warehouse import Warehouse, make_batch

pytestmark = pytest.mark.integration

STAGING = "staging.stg_raw__bank_transactions"


async def staged_batches(warehouse: Warehouse) -> dict[str, int]:
    rows = await warehouse.query(
        f"SELECT batch_id, count(*) AS n FROM {warehouse.relation(STAGING)} GROUP BY batch_id"
    )
    return {r["batch_id"]: r["n"] for r in rows}


async def audit_by_batch(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    return {a["batch_id"]: a for a in await warehouse.fetch("marts.batch_audit", "batch_id")}


async def test_failed_batch_never_reaches_staging_and_is_taken_once_loaded(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    good_rows = generated_rows(tmp_path / "good.csv", 3_000, seed=11)
    failed_rows = generated_rows(tmp_path / "failed.csv", 2_000, seed=12)
    good = make_batch(good_rows, tag="good")
    failed = make_batch(failed_rows, tag="failed")
    await warehouse.load(good)
    await warehouse.load(failed, status="loading")

    build(warehouse)
    assert await staged_batches(warehouse) == {good.batch_id: len(set(good_rows))}
    assert_marts_equal_python(await marts(warehouse), expected_marts(good_rows))
    audit = await audit_by_batch(warehouse)
    assert (audit[failed.batch_id]["status"], audit[failed.batch_id]["taken"]) == (
        "loading",
        False,
    )
    assert audit[good.batch_id]["taken"] and audit[good.batch_id]["reconciles"]

    await warehouse.mark_loaded(failed.batch_id)
    build(warehouse)
    staged = await staged_batches(warehouse)
    assert set(staged) == {good.batch_id, failed.batch_id}
    assert sum(staged.values()) == len(set(good_rows) | set(failed_rows))
    assert_marts_equal_python(await marts(warehouse), expected_marts(good_rows + failed_rows))
    audit = await audit_by_batch(warehouse)
    assert audit[failed.batch_id]["taken"] and audit[failed.batch_id]["reconciles"]


async def test_rerun_on_the_same_batches_changes_nothing(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    first_rows = generated_rows(tmp_path / "one.csv", 4_000, seed=21)
    second_rows = generated_rows(tmp_path / "two.csv", 1_000, seed=22) + first_rows[:50]
    first, second = make_batch(first_rows, tag="one"), make_batch(second_rows, tag="two")
    await warehouse.load(first)
    await warehouse.load(second)
    build(warehouse)

    async def state() -> dict[str, Any]:
        staging = await warehouse.query(
            f"SELECT count(*) AS n, sum(total_amount) AS amount FROM {warehouse.relation(STAGING)}"
        )
        sums = {}
        for mart, column in (
            ("daily_domain_totals", "total_amount"),
            ("monthly_location_totals", "total_amount"),
            ("monthly_location_domain_shares", "domain_amount"),
        ):
            sums[mart] = await warehouse.query(
                f"SELECT count(*) AS n, sum({column}) AS amount"
                f" FROM {warehouse.relation('marts.' + mart)}"
            )
        audit = await warehouse.fetch("marts.batch_audit", "batch_id")
        return {
            "staging": staging,
            "marts": sums,
            "audit": [{k: v for k, v in a.items() if k != "audited_at"} for a in audit],
        }

    before = await state()
    assert before["staging"][0]["n"] == len(set(first_rows) | set(second_rows))
    audit = {a["batch_id"]: a for a in before["audit"]}
    assert audit[second.batch_id]["deduplicated_rows"] == 50
    build(warehouse)
    assert await state() == before
    assert_marts_equal_python(await marts(warehouse), expected_marts(first_rows + second_rows))
    # the docs are in the catalog (persist_docs writes a comment only when it changed)
    [docs] = await warehouse.query(
        "SELECT obj_description($1::regclass, 'pg_class') AS model,"
        " col_description($1::regclass, 1) AS first_column",
        warehouse.relation(STAGING),
    )
    assert docs["model"].startswith("Daily bank transaction totals")
    assert docs["first_column"] == "Calendar day of the transactions (YYYY-MM-DD)."


METER_CONTRACT = """
name: meter_readings
version: 1
description: Daily electricity meter readings (a test dataset, registered by contract only).
format: csv
columns:
  - {source: Meter, name: meter_id, type: text, nullable: false, description: Meter id.}
  - {source: Day, name: read_on, type: date, nullable: false, description: Reading day.}
  - source: Kwh
    name: kwh
    type: numeric(10,3)
    nullable: false
    description: Energy used that day.
    checks: {min: 0}
natural_key: [meter_id, read_on]
raw_table: raw.meter_readings
topic: meter_readings
"""


async def test_a_dataset_registered_by_contract_alone_is_staged_and_audited(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    shutil.copy2(REPO_ROOT / "contracts/bank_transactions.yaml", contracts)
    (contracts / "meter_readings.yaml").write_text(METER_CONTRACT, encoding="utf-8")
    project = project_for_contracts(contracts, tmp_path / "dbt")
    meter = await warehouse.add_raw_table(parse_contract(METER_CONTRACT))

    day = dt.date(2024, 5, 1)
    readings = [(f"m{n}", day + dt.timedelta(days=n % 3), Decimal(n) / 8) for n in range(300)]
    first = make_batch(readings[:200], ["m-1,2024-13-01,1.0"], tag="meter-1")
    second = make_batch(readings[150:], tag="meter-2")  # 50 readings again
    bank = make_batch(generated_rows(tmp_path / "bank.csv", 500, seed=5), tag="bank")
    await warehouse.load(first, contract=meter)
    await warehouse.load(second, contract=meter)
    await warehouse.load(bank)

    result = warehouse.dbt("build", project=project)
    assert result.returncode == 0, result.stdout[-6000:]
    staged = await warehouse.query(
        "SELECT meter_id, read_on, kwh, batch_id FROM "
        + warehouse.relation("staging.stg_raw__meter_readings")
    )
    assert sorted((r["meter_id"], r["read_on"], r["kwh"]) for r in staged) == sorted(readings)
    assert {r["batch_id"] for r in staged if r["meter_id"] == "m199"} == {first.batch_id}
    audit = await audit_by_batch(warehouse)
    assert {b: (a["dataset"], a["reconciles"]) for b, a in audit.items()} == {
        first.batch_id: ("meter_readings", True),
        second.batch_id: ("meter_readings", True),
        bank.batch_id: ("bank_transactions", True),
    }
    assert (audit[first.batch_id]["staged_rows"], audit[first.batch_id]["rejected_rows"]) == (
        200,
        1,
    )
    assert (
        audit[second.batch_id]["staged_rows"],
        audit[second.batch_id]["deduplicated_rows"],
    ) == (100, 50)


async def test_scoped_tests_catch_a_bad_new_row_and_full_tests_a_bad_old_row(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    old = make_batch(generated_rows(tmp_path / "old.csv", 2_000, seed=31), tag="old")
    await warehouse.load(old)
    build(warehouse)

    # a bad fact in an old batch: the per-run tests do not read it, the full ones do
    await warehouse.query(
        f"UPDATE {warehouse.relation(STAGING)} SET domain = 'CASINO'"
        " WHERE batch_id = $1 AND source_row = 1",
        old.batch_id,
    )
    build(warehouse)
    full = warehouse.dbt("test", scope="full")
    assert full.returncode != 0
    assert "FAIL 1 accepted_values_stg_raw__bank_transactions_domain" in full.stdout

    # a bad row in the new batch (the producer would have refused it): the run's tests fail
    new_rows = generated_rows(tmp_path / "new.csv", 1_000, seed=32)
    day, _, location, amount, count = new_rows[0]
    new = make_batch([(day, "CASINO", location, amount, count), *new_rows[1:]], tag="new")
    await warehouse.load(new)
    result = warehouse.dbt("build")
    assert result.returncode != 0
    assert "FAIL 1 accepted_values_stg_raw__bank_transactions_domain" in result.stdout
