"""Fixtures for the dbt tests: the dbt executable and an isolated warehouse per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dbt.warehouse import DBT_PROJECT, Warehouse, require_dbt


@pytest.fixture(scope="session")
def dbt_bin() -> Path:
    try:
        return require_dbt()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def warehouse(stack_env: dict[str, str], dbt_bin: Path) -> AsyncIterator[Warehouse]:
    """Fresh raw, ledger and dbt schemas on the stack's PostgreSQL, dropped afterwards."""
    house = Warehouse(stack_env)
    await house.create()
    try:
        yield house
    finally:
        await house.drop()
        shutil.rmtree(DBT_PROJECT / "target" / f"test-{house.suffix}", ignore_errors=True)
