"""``batchpipe_inbox`` works for any registered dataset: the contracts folder is read on every
run (a contract added while Airflow runs counts at once), and a file in ``<inbox>/<dataset>/``
goes to that dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchpipe_airflow import config
from batchpipe_airflow.inbox import local_candidates


def _contract(folder: Path, name: str) -> None:
    (folder / f"{name}.yaml").write_text(f"name: {name}\n")


def test_a_new_dataset_folder_is_picked_up_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contracts, inbox = tmp_path / "contracts", tmp_path / "inbox"
    contracts.mkdir()
    (inbox / "shop_orders").mkdir(parents=True)
    (inbox / "shop_orders" / "orders.csv").write_text("a\n1\n")
    (inbox / "loose.csv").write_text("a\n2\n")
    monkeypatch.setenv("BATCHPIPE_CONTRACTS_DIR", str(contracts))
    _contract(contracts, "bank_transactions")
    assert config.datasets() == ["bank_transactions"]

    _contract(contracts, "shop_orders")  # registered while the scheduler runs
    datasets = set(config.datasets())
    assert datasets == {"bank_transactions", "shop_orders"}
    found = {c.source: c.dataset for c in local_candidates(inbox, datasets, "bank_transactions")}
    assert found == {"shop_orders/orders.csv": "shop_orders", "loose.csv": "bank_transactions"}
