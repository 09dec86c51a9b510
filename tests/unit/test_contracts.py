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
    assert contract.wire_columns == (*contract.column_names, "_source_row")
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


REAL_WORLD = """
name: orders
version: 1
format: csv
dialect: {delimiter: ";", skip_rows: 2, trim: true, escape: "\\\\", comment: "#"}
null_values: ["", "NA"]
decimal_separator: ","
extra_columns: ignore
columns:
  - {source: d, name: d, type: date, format: "%d/%m/%Y"}
  - {source: t, name: t, type: timestamptz, format: epoch_millis, timezone: Europe/Paris}
  - {source: b, name: b, type: boolean, true_values: [oui], false_values: [non]}
  - {source: n, name: n, type: "numeric(8,2)", decimal_separator: "."}
  - {source: x, name: x, type: text, null_values: ["NULL"]}
raw_table: raw.orders
topic: orders
"""


def test_real_world_keys_load_with_their_defaults() -> None:
    contract = parse_contract(REAL_WORLD)
    d, t, b, n, x = contract.columns
    assert contract.dialect.skip_rows == 2 and contract.dialect.trim
    assert (contract.dialect.escape, contract.dialect.comment) == ("\\", "#")
    assert contract.null_values_of(d, csv=True) == {"", "NA"}
    assert contract.null_values_of(x, csv=True) == {"NULL"}
    assert contract.decimal_separator_of(n) == "." and contract.decimal_separator_of(d) == ","
    assert (d.format, t.format, t.timezone) == ("%d/%m/%Y", "epoch_millis", "Europe/Paris")
    assert (b.true_values, b.false_values) == (("oui",), ("non",))
    plain = load_contracts(REPO_ROOT / "contracts")["bank_transactions"]
    assert plain.extra_columns == "reject" and plain.decimal_separator == "."
    assert plain.dialect.skip_rows == 0 and not plain.dialect.trim
    assert plain.null_values_of(plain.columns[0], csv=True) == {""}
    assert plain.null_values_of(plain.columns[0], csv=False) == frozenset()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('format: "%d/%m/%Y"', "format: dd/mm/yyyy", "has no %-directive"),
        ("type: date, format", "type: text, format", "format needs type date"),
        ("timezone: Europe/Paris", "timezone: Paris", "unknown time zone 'Paris'"),
        (
            "type: boolean, true_values: [oui]",
            "type: integer, true_values: [oui]",
            "need type boolean",
        ),
        ("false_values: [non]", "false_values: [OUI]", "cannot be both a true and a false value"),
        ('decimal_separator: ","', 'decimal_separator: ";"', "decimal_separator"),
        ('comment: "#"', 'comment: ";"', "must be distinct characters"),
        ("skip_rows: 2", "skip_rows: -1", "skip_rows"),
        ("extra_columns: ignore", "extra_columns: keep", "extra_columns"),
        (
            'type: "numeric(8,2)", decimal_separator',
            "type: text, decimal_separator",
            "needs type numeric",
        ),
    ],
)
def test_real_world_keys_are_checked(old: str, new: str, message: str) -> None:
    broken = REAL_WORLD.replace(old, new, 1)
    assert broken != REAL_WORLD
    with pytest.raises(ContractError) as info:
        parse_contract(broken, "orders.yaml")
    assert message in str(info.value)
    assert f"line {_line_of(broken, new)}:" in str(info.value)


def test_the_documented_example_is_a_valid_contract() -> None:
    page = (REPO_ROOT / "docs" / "contracts.md").read_text()
    example = page.split("## Keys for real-world files", 1)[1].split("```yaml\n", 1)[1]
    contract = parse_contract(example.split("```", 1)[0], "docs/contracts.md")
    assert contract.extra_columns == "ignore" and contract.dialect.escape == "\\"
    assert contract.null_values == ("", "NA", "N/A", "-", "\\N")
