"""dbt's staging models, their tests and the batch audit are generated from the contracts."""

from __future__ import annotations

import yaml

from batchpipe_common.contracts import load_contract
from batchpipe_common.settings import REPO_ROOT
from tests.dbt.project import load_script


def test_committed_files_are_what_the_generator_writes() -> None:
    generator = load_script("generate_staging")
    for path, text in generator.render_all(generator.CONTRACTS_DIR, generator.PROJECT_DIR).items():
        assert path.exists(), f"{path} is missing: run `.venv/bin/python {generator.__file__}`"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} diverges from the contracts: run "
            "`.venv/bin/python dbt/scripts/generate_staging.py`"
        )


def test_every_contract_gets_a_staging_model_with_its_checks_scoped_to_the_run() -> None:
    generator = load_script("generate_staging")
    contract = load_contract(REPO_ROOT / "contracts/bank_transactions.yaml")
    files = generator.render_all(generator.CONTRACTS_DIR, generator.PROJECT_DIR)
    sql = files[generator.PROJECT_DIR / "models/staging/raw/stg_raw__bank_transactions.sql"]
    assert "source('raw', 'bank_transactions')" in sql
    assert "{'columns': ['key_hash'], 'unique': True}" in sql
    for key in contract.natural_key or ():
        assert f"'{key}'," in sql
    document = yaml.safe_load(files[generator.PROJECT_DIR / "models/staging/raw/_raw__models.yml"])
    model = document["models"][0]
    domain = next(c for c in model["columns"] if c["name"] == "domain")
    accepted = next(t["accepted_values"] for t in domain["data_tests"] if "accepted_values" in t)
    assert accepted["arguments"]["values"] == list(contract.columns[1].checks.allowed or ())
    assert accepted["config"]["where"] == "taken_at = __run_started_at__"
    audit = files[generator.PROJECT_DIR / "models/marts/batch_audit.sql"]
    assert "ref('stg_raw__bank_transactions')" in audit
