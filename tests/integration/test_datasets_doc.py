"""docs/datasets.md's walkthrough, run as it stands against the local stack.

Every ```sh block of the page runs in order in one bash session (``set -euo pipefail``, so
each line must succeed), in an empty folder, with the page's dataset name made unique for
this run; then the loaded rows are compared with the file the page wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from batchpipe_common.settings import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "datasets.md"
DATASET = "shop_orders"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_walkthrough_runs_and_loads_what_the_file_holds(
    tmp_path: Path, stack_env: dict[str, str], admin_dsn: str
) -> None:
    name = f"{DATASET}_{uuid.uuid4().hex[:8]}"
    blocks = _blocks(PAGE.read_text())
    assert len(blocks) >= 6, "the page lost steps"
    script = "set -euo pipefail\n" + "\n".join(b.replace(DATASET, name) for b in blocks)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BATCHPIPE_")},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "BATCHPIPE_STACK_DIR": stack_env.get("BATCHPIPE_STACK_DIR", str(REPO_ROOT / ".stack")),
    }
    contracts = Path(stack_env["BATCHPIPE_CONTRACTS_DIR"])
    try:
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        # what the page's file holds, read back from the file it wrote
        rows = (tmp_path / f"{name}.csv").read_text().splitlines()[1:]
        amounts = [r.split(";")[2] for r in rows]
        result = json.loads((tmp_path / "ingest.json").read_text())
        assert result["reconciles"] is True
        assert result["rows_loaded"] == result["rows_read"] == len(rows)
        loaded = asyncio.run(_loaded(admin_dsn, name, result["batch_id"]))
        assert loaded["n"] == len(rows)
        assert loaded["nulls"] == amounts.count("NULL")
        assert loaded["total"] == sum(Decimal(a) for a in amounts if a != "NULL")
        # the query step printed the rows
        assert run.stdout.count("|") >= 3 * len(rows)
    finally:
        (contracts / f"{name}.yaml").unlink(missing_ok=True)
        asyncio.run(_drop(admin_dsn, name))


def _warehouse(admin_dsn: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + "/warehouse"


async def _loaded(admin_dsn: str, name: str, batch_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(_warehouse(admin_dsn))
    try:
        row: asyncpg.Record = await conn.fetchrow(
            f"SELECT count(*) AS n, count(*) FILTER (WHERE amount_eur IS NULL) AS nulls,"
            f" sum(amount_eur) AS total FROM raw.{name} WHERE _batch_id = $1",
            batch_id,
        )
        return row
    finally:
        await conn.close()


async def _drop(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(_warehouse(admin_dsn))
    try:
        await conn.execute(f"DROP TABLE IF EXISTS raw.{name}")
    finally:
        await conn.close()
