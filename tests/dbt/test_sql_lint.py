"""The dbt project's SQL is sqlfluff-clean (postgres dialect, jinja templater)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.dbt.warehouse import DBT_BIN, DBT_PROJECT


def test_models_are_sqlfluff_clean() -> None:
    sqlfluff = DBT_BIN.parent / "sqlfluff"
    if not sqlfluff.exists():
        pytest.fail(
            f"sqlfluff is not installed at {sqlfluff}: "
            "install dbt/requirements.txt into .venvs/dbt",
            pytrace=False,
        )
    result = subprocess.run(
        [str(sqlfluff), "lint", "models", "--config", ".sqlfluff", "--nofail", "--format", "json"],
        cwd=DBT_PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    files = json.loads(result.stdout)
    violations = [
        f"{f['filepath']}:{v['start_line_no']}: {v['code']} {v['description']}"
        for f in files
        for v in f["violations"]
    ]
    assert len(files) >= 6, result.stderr
    assert violations == []
