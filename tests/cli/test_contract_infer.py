"""``batchpipe contract infer`` and ``contract check`` on local files (no stack needed)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from batchpipe_cli.generate import generate_bank_file
from batchpipe_cli.infer.check import check_file
from batchpipe_cli.infer.propose import infer_contract, snake_case
from batchpipe_cli.infer.sample import read_sample
from batchpipe_common.contracts import Contract, load_contract, parse_contract
from tests.cli.shapes import Shape, members_jsonl, orders_csv, sensors_csv

REPO = Path(__file__).resolve().parents[2]
BATCHPIPE = Path(sys.executable).parent / "batchpipe"


def _infer(path: Path, name: str = "shape") -> tuple[str, Contract]:
    return infer_contract(read_sample(path, 10_000), name, path)


@pytest.mark.parametrize("make", [sensors_csv, orders_csv, members_jsonl])
def test_each_shape_gets_its_types_and_passes_its_own_check(tmp_path: Path, make: object) -> None:
    shape: Shape = make(tmp_path)  # type: ignore[operator]
    _text, contract = _infer(shape.path)
    assert {c.name: c.type for c in contract.columns} == shape.types
    for column in contract.columns:
        assert column.nullable == (shape.nulls.get(column.name, 0) > 0), column.name
    outcome = check_file(contract, shape.path)
    assert outcome.failure is None
    assert (outcome.rows_read, outcome.rows_valid, outcome.rows_rejected) == (
        shape.rows,
        shape.rows,
        0,
    )


def test_markers_formats_and_dialect_are_detected_and_commented(tmp_path: Path) -> None:
    text, contract = _infer(orders_csv(tmp_path).path, "orders")
    assert contract.dialect.delimiter == ";"
    assert contract.dialect.header is True
    assert contract.null_values == ("", "NULL")
    order_date = next(c for c in contract.columns if c.name == "order_date")
    assert order_date.format == "%d/%m/%Y"
    assert (contract.raw_table, contract.topic) == ("raw.orders", "orders")
    # every column's type and nullability carries its reason
    typed = [line for line in text.splitlines() if line.strip().startswith(("type:", "nullable:"))]
    assert typed and all("  # " in line for line in typed)
    sensors, _ = _infer(sensors_csv(tmp_path).path)
    assert 'null_values: ["", "NA"]' in sensors


def test_bank_file_reproduces_the_bank_contract_types(tmp_path: Path) -> None:
    path = generate_bank_file(tmp_path / "bank.csv", rows=5_000)
    _text, inferred = _infer(path, "bank_transactions")
    registered = load_contract(REPO / "contracts" / "bank_transactions.yaml")
    assert {c.source: c.type for c in inferred.columns} == {
        c.source: c.type for c in registered.columns
    }
    assert {c.source: c.nullable for c in inferred.columns} == {
        c.source: c.nullable for c in registered.columns
    }


def test_untypeable_column_is_text_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("code,zip,when\n12,00123,2024-01-01\nabc,04000,2024-01-02\n7,10115,soon\n")
    text, contract = _infer(path)
    assert [c.type for c in contract.columns] == ["text", "text", "text"]
    reasons = "\n".join(line for line in text.splitlines() if "type: text  # " in line)
    assert "'abc' is not" in reasons
    assert "leading zeros" in reasons
    assert "'soon' is not" in reasons


def test_gzip_and_parquet_are_sampled(tmp_path: Path) -> None:
    shape = sensors_csv(tmp_path)
    gz = tmp_path / "sensors.csv.gz"
    with shape.path.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    text, contract = _infer(gz)
    assert "(gzip)" in text
    assert {c.name: c.type for c in contract.columns} == shape.types
    assert check_file(contract, gz).rows_valid == shape.rows

    table = pa.table(
        {
            "Id": pa.array([1, 2, 3], pa.int64()),
            "Price": pa.array([1.5, None, 2.25]),
            "Seen At": pa.array(
                [1_700_000_000_000_000, 1_700_000_360_000_000, None], pa.timestamp("us", tz="UTC")
            ),
            "Ok": pa.array([True, False, True]),
        }
    )
    parquet = tmp_path / "t.parquet"
    pq.write_table(table, parquet)
    _text, contract = _infer(parquet)
    assert contract.format == "parquet"
    assert {c.name: c.type for c in contract.columns} == {
        "id": "integer",
        "price": "numeric(14,2)",
        "seen_at": "timestamptz",
        "ok": "boolean",
    }
    outcome = check_file(contract, parquet)
    assert (outcome.rows_valid, outcome.rows_rejected) == (3, 0)


def test_snake_case_names() -> None:
    assert snake_case("Total Amount") == "total_amount"
    assert snake_case("totalAmount") == "total_amount"
    assert snake_case("2nd-Place") == "c_2nd_place"
    assert snake_case("  ") == "column"


def test_check_cli_exits_1_and_names_the_rejects(tmp_path: Path) -> None:
    shape = orders_csv(tmp_path)
    contract_file = tmp_path / "orders.yaml"
    run = subprocess.run(
        [
            str(BATCHPIPE),
            "contract",
            "infer",
            str(shape.path),
            "--name",
            "orders",
            "--out",
            str(contract_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    parse_contract(contract_file.read_text())
    clean = subprocess.run(
        [str(BATCHPIPE), "contract", "check", str(shape.path), "--contract", str(contract_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"rows read {shape.rows}, valid {shape.rows}, rejected 0" in clean.stdout
    bad = tmp_path / "bad.csv"
    rows = shape.path.read_text().splitlines()
    rows[3] = rows[3].replace(";true;", ";maybe;").replace(";false;", ";maybe;")
    bad.write_text("\n".join(rows) + "\n")
    dirty = subprocess.run(
        [str(BATCHPIPE), "contract", "check", str(bad), "--contract", str(contract_file), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert dirty.returncode == 1
    report = yaml.safe_load(dirty.stdout)
    assert report["rows_rejected"] == 1
    assert report["first_rejects"]["paid"][0]["value"] == "maybe"
    assert report["first_rejects"]["paid"][0]["row"] == 3
