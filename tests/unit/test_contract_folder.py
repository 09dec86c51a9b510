"""``ContractFolder``: the services' view of the contracts folder, re-read when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.contracts import ContractError

REPO = Path(__file__).resolve().parents[2]


def _contract(name: str, version: int = 1, extra: str = "") -> str:
    return (
        f"name: {name}\nversion: {version}\nformat: csv\n"
        "columns:\n  - {source: a, name: a, type: integer}\n"
        f"{extra}raw_table: raw.{name}\ntopic: {name}\n"
    )


def _write(folder: Path, name: str, text: str) -> None:
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / f"{name}.yaml")


def test_new_changed_and_removed_contracts_are_seen(tmp_path: Path) -> None:
    _write(tmp_path, "first", _contract("first"))
    folder = ContractFolder(tmp_path)
    assert sorted(folder.current()) == ["first"]
    _write(tmp_path, "second", _contract("second"))
    assert sorted(folder.current()) == ["first", "second"]
    _write(tmp_path, "second", _contract("second", version=2))
    second = folder.get("second")
    assert second is not None and second.version == 2
    (tmp_path / "second.yaml").unlink()
    assert folder.get("second") is None
    assert "no second.yaml" in folder.unknown("second")


def test_a_broken_file_makes_only_its_dataset_unknown_with_the_reason(tmp_path: Path) -> None:
    _write(tmp_path, "good", _contract("good"))
    folder = ContractFolder(tmp_path)
    _write(tmp_path, "bad", _contract("bad").replace("type: integer", "type: integr"))
    assert sorted(folder.current()) == ["good"]
    assert "unknown type 'integr'" in folder.unknown("bad")
    _write(tmp_path, "bad", _contract("bad"))
    assert sorted(folder.current()) == ["bad", "good"]
    assert folder.problem("bad") is None


def test_start_is_strict_like_load_contracts(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="holds no"):
        ContractFolder(tmp_path)
    assert "bank_transactions" in ContractFolder(REPO / "contracts").current()
