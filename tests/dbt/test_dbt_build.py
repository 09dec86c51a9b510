"""dbt against the real PostgreSQL of the local stack: marts equal Python's totals of the
generated CSV, a second batch rewrites only what it touched, a full refresh rebuilds the same
marts, and a row missing from raw fails the build with a test that names the batch."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from batchpipe_cli.generate import generate_bank_file
from tests.dbt.expected import ExpectedMarts, expected_marts
from tests.dbt.warehouse import DBT_PROJECT, Fact, Warehouse, make_batch, parse_bank_csv

pytestmark = pytest.mark.integration

MARCH = dt.date(2022, 3, 1)
PLANTED_REJECTS = ["2022-02-30,RETAIL,Pune,10.00,1", "2022-01-01,UNKNOWN,Pune,1.00,1"]
METADATA = ("built_at", "batch_registered_at")

Rows = list[dict[str, Any]]


def generated_rows(path: Path, rows: int, seed: int) -> list[Fact]:
    generate_bank_file(path, rows, seed)
    return parse_bank_csv(path.read_text(encoding="utf-8"))


def build(warehouse: Warehouse, *args: str) -> str:
    result = warehouse.dbt("build", *args)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


async def marts(warehouse: Warehouse) -> dict[str, Rows]:
    return {
        "daily": await warehouse.fetch("marts.daily_domain_totals", "transaction_date, domain"),
        "monthly": await warehouse.fetch(
            "marts.monthly_location_totals", "transaction_month, location"
        ),
        "shares": await warehouse.fetch(
            "marts.monthly_location_domain_shares", "transaction_month, location, domain"
        ),
    }


def assert_marts_equal_python(actual: dict[str, Rows], expected: ExpectedMarts) -> None:
    daily = {
        (r["transaction_date"], r["domain"]): (
            r["total_amount"],
            r["transaction_count"],
            r["amount_per_transaction"],
        )
        for r in actual["daily"]
    }
    monthly = {
        (r["transaction_month"], r["location"]): (
            r["total_amount"],
            r["transaction_count"],
            r["amount_per_transaction"],
            r["amount_rank_in_month"],
        )
        for r in actual["monthly"]
    }
    shares = {
        (r["transaction_month"], r["location"], r["domain"]): (
            r["domain_amount"],
            r["location_amount"],
            r["share_of_location_amount"],
        )
        for r in actual["shares"]
    }
    assert len(daily) == len(actual["daily"])
    assert daily == expected.daily
    assert monthly == expected.monthly
    assert shares == expected.shares


def without_metadata(rows: Rows) -> Rows:
    return [{k: v for k, v in row.items() if k not in METADATA} for row in rows]


async def test_marts_match_python_totals_and_second_batch_rewrites_only_its_rows(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    first_rows = generated_rows(tmp_path / "bank-1.csv", 20_000, seed=42)
    first = make_batch(first_rows, PLANTED_REJECTS, tag="first")
    await warehouse.load(first)

    build(warehouse)
    before = await marts(warehouse)
    assert_marts_equal_python(before, expected_marts(first_rows))
    audit = await warehouse.fetch("marts.batch_audit", "batch_id")
    assert [(a["batch_id"], a["loaded_rows"], a["producer_rejected_rows"]) for a in audit] == [
        (first.batch_id, 20_000, len(PLANTED_REJECTS))
    ]
    assert audit[0]["manifest_rows_read"] == 20_000 + len(PLANTED_REJECTS)
    assert audit[0]["reconciles"] is True
    assert warehouse.dbt("source", "freshness").returncode == 0

    # A second batch: March only, with a few exact duplicates of first-batch March facts.
    second_file = generated_rows(tmp_path / "bank-2.csv", 6_000, seed=7)
    march_new = [r for r in second_file if r[0].replace(day=1) == MARCH]
    march_dupes = [r for r in first_rows if r[0].replace(day=1) == MARCH][:5]
    second = make_batch(march_new + march_dupes, tag="second")
    await warehouse.load(second)

    build(warehouse)
    after = await marts(warehouse)
    assert_marts_equal_python(after, expected_marts(first_rows + second.rows))

    touched_days = {r[0] for r in second.rows}
    old_build = before["daily"][0]["built_at"]
    for row in after["daily"]:
        if row["transaction_date"] in touched_days:
            assert row["built_at"] > old_build, row
    untouched_daily = [r for r in after["daily"] if r["transaction_date"] not in touched_days]
    assert untouched_daily == [
        r for r in before["daily"] if r["transaction_date"] not in touched_days
    ]
    for mart in ("monthly", "shares"):
        assert {r["transaction_month"] for r in after[mart] if r["built_at"] > old_build} == {MARCH}
        assert [r for r in after[mart] if r["transaction_month"] != MARCH] == [
            r for r in before[mart] if r["transaction_month"] != MARCH
        ]

    build(warehouse, "--full-refresh")
    refreshed = await marts(warehouse)
    for mart, rows in refreshed.items():
        assert without_metadata(rows) == without_metadata(after[mart]), mart
    assert refreshed["daily"][0]["built_at"] > after["daily"][0]["built_at"]


async def test_row_missing_from_raw_fails_the_build_naming_the_batch(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    rows = generated_rows(tmp_path / "bank.csv", 2_000, seed=3)
    batch = make_batch(rows, tag="broken")
    await warehouse.load(batch)
    build(warehouse)

    docs = warehouse.dbt("docs", "generate")
    assert docs.returncode == 0, docs.stdout[-4000:]
    catalog = json.loads(
        (DBT_PROJECT / "target" / f"test-{warehouse.suffix}" / "catalog.json").read_text()
    )
    assert "model.batchpipe.batch_audit" in catalog["nodes"]

    # a row lost from an old batch: the daily full-history tests name the batch
    await warehouse.delete_one_raw_row(batch.batch_id)
    full = warehouse.dbt("test", scope="full")
    assert full.returncode != 0
    assert f"batch {batch.batch_id} differs from the ledger: raw_rows=1999" in full.stdout

    # a row missing from a new batch: the run that takes the batch fails, naming it
    new = make_batch(generated_rows(tmp_path / "new.csv", 500, seed=4), tag="new")
    await warehouse.load(new)
    await warehouse.delete_one_raw_row(new.batch_id)
    result = warehouse.dbt("build")
    assert result.returncode != 0
    assert f"batch {new.batch_id} does not reconcile with the ledger" in result.stdout
    assert "unaccounted=1" in result.stdout
    assert "FAIL 1 reconciles_with_ledger_batch_audit" in result.stdout


def test_unit_tests_pass(warehouse: Warehouse) -> None:
    """The SQL's unit tests (not part of the per-run build; CI and the quality DAG run them)."""
    build(warehouse)  # unit tests read the column types of the models' inputs
    result = warehouse.dbt("test", "--select", "test_type:unit")
    assert result.returncode == 0, result.stdout[-6000:]
    assert "PASS=" in result.stdout and "PASS=0 " not in result.stdout
