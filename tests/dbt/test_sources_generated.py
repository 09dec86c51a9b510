"""dbt's sources file is generated from the contracts and the sink's bookkeeping DDL."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import yaml

from batchpipe_common.contracts import load_contract
from batchpipe_common.settings import REPO_ROOT

GENERATOR = REPO_ROOT / "dbt/scripts/generate_sources.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sources", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_committed_sources_file_is_what_the_generator_writes() -> None:
    generator = load_generator()
    committed = generator.SOURCES_FILE.read_text(encoding="utf-8")
    assert committed == generator.render(), (
        "dbt/models/staging/__sources.yml diverges from the contracts or bookkeeping.sql: "
        "run `.venv/bin/python dbt/scripts/generate_sources.py`"
    )


def test_raw_source_columns_follow_the_contract() -> None:
    contract = load_contract(REPO_ROOT / "contracts/bank_transactions.yaml")
    document = yaml.safe_load(load_generator().render())
    raw = next(s for s in document["sources"] if s["name"] == "raw")
    table = next(t for t in raw["tables"] if t["name"] == contract.raw_table_name)
    columns = {c["name"]: c for c in table["columns"]}
    assert list(columns) == [*contract.column_names, "_batch_id", "_source_row", "_loaded_at"]
    assert columns["total_amount"]["data_type"] == "numeric(14,2)"
    assert {"not_null": {"config": {"tags": ["full_history"]}}} in columns["transaction_date"][
        "data_tests"
    ]
    assert table["config"]["freshness"]["error_after"] == {
        "count": contract.freshness_error_after_hours,
        "period": "hour",
    }


def test_ledger_tables_are_parsed_from_the_bookkeeping_ddl() -> None:
    generator = load_generator()
    tables = {t.name: t for t in generator.parse_bookkeeping(generator.BOOKKEEPING_SQL.read_text())}
    assert set(tables) == {"chunks", "rejects", "batches"}
    assert tables["batches"].primary_key == ["batch_id"]
    assert tables["rejects"].primary_key == ["batch_id", "source_row"]
    assert tables["rejects"].allowed == {"stage": ["producer", "sink"]}
    assert ("loaded_at", "timestamptz", False) in tables["batches"].columns
    views = generator.parse_bookkeeping_views(generator.BOOKKEEPING_SQL.read_text())
    assert [(schema, name) for schema, name, _ in views] == [("batchpipe", "batch_status")]


def test_source_tests_run_only_in_the_full_history_selection() -> None:
    """Raw tables are read whole by their tests, and the ledger's restate its constraints:
    both run daily (batchpipe_quality); per run, the staging models test the new rows."""
    document = yaml.safe_load(load_generator().render())
    for source in document["sources"]:
        for table in source["tables"]:
            tests = table.get("data_tests", []) + [
                t for c in table.get("columns", []) for t in c.get("data_tests", [])
            ]
            assert tests or table["name"] == "batch_status", table["name"]
            for test in tests:
                (body,) = test.values()
                assert body["config"]["tags"] == ["full_history"], test
