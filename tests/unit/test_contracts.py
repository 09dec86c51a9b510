"""Contracts: the shipped one loads; broken ones are refused with the offending line."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchpipe_common.contracts import ContractError, load_contracts, parse_contract
from batchpipe_common.settings import REPO_ROOT

CONTRACT = (REPO_ROOT / "contracts" / "bank_transactions.yaml").read_text()


def test_shipped_contract_loads() -> None:
    contract = load_contracts(REPO_ROOT / "contracts")["bank_transactions"]
    assert [c.source for c in contract.columns] == [
        "Date",
        "Domain",
        "Location",
        "Total_Amount",
        "Transaction_count",
    ]
    assert contract.wire_columns[-2:] == ("_batch_id", "_source_row")
    assert contract.columns[3].column_type.pg_type == "numeric(14,2)"
    assert contract.dlq_topic == "bank_transactions.dlq"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("type: integer", "type: int4", "type: int4", "unknown type 'int4'"),
        ("name: domain", "name: Domain", "name: Domain", "must be snake_case"),
        ("format: csv", "format: xlsx", "format: xlsx", "format"),
        ("raw_table: raw.bank_transactions", "raw_table: bank", "raw_table: bank", "schema.table"),
    ],
)
def test_error_names_the_line(old: str, new: str, needle: str, message: str) -> None:
    broken = CONTRACT.replace(old, new, 1)
    with pytest.raises(ContractError) as info:
        parse_contract(broken, "broken.yaml")
    text = str(info.value)
    assert text.startswith("broken.yaml: ")
    assert f"line {_line_of(broken, needle)}:" in text
    assert message in text


def test_unknown_natural_key_and_bad_yaml() -> None:
    with pytest.raises(ContractError, match="natural_key column 'nope'"):
        parse_contract(CONTRACT.replace("natural_key: [", "natural_key: [nope, "), "x.yaml")
    with pytest.raises(ContractError, match=r"x.yaml: line \d+: not valid YAML"):
        parse_contract("name: [unclosed\n", "x.yaml")


def test_folder_without_contracts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="holds no"):
        load_contracts(tmp_path)
