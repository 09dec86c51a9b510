"""An isolated warehouse for the dbt tests: its own raw, ledger and dbt schemas.

Each ``Warehouse`` gets a unique suffix: the raw table and the ledger tables are created (as
the sink's role, with the sink's DDL) in ``raw_<suffix>`` and ``batchpipe_<suffix>``, and dbt
builds into ``dbt_<suffix>*`` (its sources point there through ``--vars``). Batches are
loaded the way the pg-sink loads them: COPY into the raw table with lineage columns, producer
rejects into ``rejects``, and a ledger row marked ``loaded``. ``drop`` removes every schema.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from batchpipe_common.contracts import Contract, load_contract
from batchpipe_common.ddl import quote_ident, raw_batch_index_ddl, raw_table_ddl
from batchpipe_common.settings import REPO_ROOT
from batchpipe_common.wire import batch_id_for

DBT_BIN = REPO_ROOT / ".venvs/dbt/bin/dbt"
DBT_PROJECT = REPO_ROOT / "dbt"
CONTRACT_PATH = REPO_ROOT / "contracts/bank_transactions.yaml"
BOOKKEEPING_SQL = REPO_ROOT / "services/pg-sink/src/batchpipe_sink/sql/bookkeeping.sql"
MARTS = ("daily_domain_totals", "monthly_location_totals", "monthly_location_domain_shares")

Fact = tuple[dt.date, str, str, Decimal, int]
"""A bank row by its natural key: date, domain, location, amount, transaction count."""


def parse_bank_csv(text: str) -> list[Fact]:
    """Typed rows of a generated bank CSV, in file order."""
    reader = csv.DictReader(io.StringIO(text))
    return [
        (
            dt.date.fromisoformat(row["Date"]),
            row["Domain"],
            row["Location"],
            Decimal(row["Total_Amount"]),
            int(row["Transaction_count"]),
        )
        for row in reader
    ]


@dataclass(frozen=True)
class Batch:
    batch_id: str
    rows: list[Any]  # Facts for the bank contract, the contract's columns for another
    rejected_lines: list[str]


def make_batch(
    rows: Sequence[tuple[Any, ...]], rejected_lines: Sequence[str] = (), tag: str = ""
) -> Batch:
    """A batch id derived like the producer's (from the rows' bytes) for ``rows``."""
    digest = hashlib.sha256((tag + repr(list(rows)) + repr(list(rejected_lines))).encode())
    return Batch(
        batch_id_for("bank_transactions", 1, digest.hexdigest()), list(rows), list(rejected_lines)
    )


class Warehouse:
    def __init__(self, stack_env: dict[str, str]) -> None:
        self.env = stack_env
        self.suffix = uuid.uuid4().hex[:10]
        self.raw_schema = f"raw_{self.suffix}"
        self.ledger_schema = f"batchpipe_{self.suffix}"
        self.dbt_schema = f"dbt_{self.suffix}"
        self.contract: Contract = load_contract(CONTRACT_PATH).model_copy(
            update={"raw_table": f"{self.raw_schema}.bank_transactions"}
        )

    # --- schemas -------------------------------------------------------------------------

    async def create(self) -> None:
        admin = await asyncpg.connect(self.env["BATCHPIPE_PG_ADMIN_DSN"])
        try:
            for schema in (self.raw_schema, self.ledger_schema):
                await admin.execute(
                    f"CREATE SCHEMA {quote_ident(schema)} AUTHORIZATION batchpipe_sink;"
                    f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO batchpipe_dbt"
                )
        finally:
            await admin.close()
        bookkeeping = BOOKKEEPING_SQL.read_text().replace(
            "batchpipe.", f"{quote_ident(self.ledger_schema)}."
        )
        sink = await self._sink()
        try:
            await sink.execute(raw_table_ddl(self.contract))
            await sink.execute(raw_batch_index_ddl(self.contract))
            await sink.execute(bookkeeping)
            for schema in (self.raw_schema, self.ledger_schema):
                await sink.execute(
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote_ident(schema)} TO batchpipe_dbt"
                )
        finally:
            await sink.close()

    async def drop(self) -> None:
        admin = await asyncpg.connect(self.env["BATCHPIPE_PG_ADMIN_DSN"])
        try:
            schemas = await admin.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])"
                " OR nspname LIKE $2",
                [self.raw_schema, self.ledger_schema],
                f"{self.dbt_schema}%",
            )
            for row in schemas:
                await admin.execute(f"DROP SCHEMA {quote_ident(row['nspname'])} CASCADE")
        finally:
            await admin.close()

    async def _sink(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.env["BATCHPIPE_PG_DSN"])

    # --- loading, as the sink does -------------------------------------------------------

    async def load(
        self, batch: Batch, *, status: str = "loaded", contract: Contract | None = None
    ) -> None:
        """COPY the batch's rows, record its producer rejects, its chunk and its manifest.

        ``status`` is the ledger's: ``loading`` is a batch whose load failed or is not
        finished (its rows are in raw, the ledger does not call it loaded).
        """
        contract = contract or self.contract
        valid = len(batch.rows)
        rejected = len(batch.rejected_lines)
        ledger = quote_ident(self.ledger_schema)
        sink = await self._sink()
        try:
            async with sink.transaction():
                await sink.copy_records_to_table(
                    contract.raw_table_name,
                    schema_name=contract.raw_schema,
                    columns=[*contract.column_names, "_batch_id", "_source_row"],
                    records=[(*row, batch.batch_id, n) for n, row in enumerate(batch.rows, 1)],
                )
                await sink.executemany(
                    f"INSERT INTO {ledger}.rejects"
                    " (batch_id, dataset, stage, source_uri, source_row, raw_line, errors)"
                    " VALUES ($1, $2, 'producer', $3, $4, $5, $6::jsonb)",
                    [
                        (
                            batch.batch_id,
                            contract.name,
                            self.source_uri(batch),
                            valid + n,
                            line,
                            json.dumps([{"error": "planted reject"}]),
                        )
                        for n, line in enumerate(batch.rejected_lines, 1)
                    ],
                )
                await sink.execute(
                    f"INSERT INTO {ledger}.chunks (batch_id, chunk_seq, dataset, topic,"
                    " kafka_partition, kafka_offset, first_row, row_count, rows_loaded,"
                    " applied_by) VALUES ($1, 0, $2, $2, 0, 0, 1, $3, $3, 'test')",
                    batch.batch_id,
                    contract.name,
                    valid,
                )
                await sink.execute(
                    f"INSERT INTO {ledger}.batches"
                    " (batch_id, dataset, contract_version, source_uri, sha256, rows_read,"
                    "  rows_valid, rows_rejected, chunk_count, data_offsets, dlq_offsets,"
                    "  manifest_at, status, loaded_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, '{}', '{}',"
                    "  now(), $9, CASE WHEN $9 = 'loaded' THEN now() END)",
                    batch.batch_id,
                    contract.name,
                    contract.version,
                    self.source_uri(batch),
                    hashlib.sha256(batch.batch_id.encode()).hexdigest(),
                    valid + rejected,
                    valid,
                    rejected,
                    status,
                )
        finally:
            await sink.close()

    async def mark_loaded(self, batch_id: str) -> None:
        """The ledger calls a batch loaded that was loading (a late, completed load)."""
        await self.execute(
            f"UPDATE {quote_ident(self.ledger_schema)}.batches"
            " SET status = 'loaded', loaded_at = now() WHERE batch_id = $1",
            batch_id,
        )

    async def execute(self, sql: str, *args: object) -> None:
        """A statement as the sink's role (raw and ledger tables are the sink's)."""
        sink = await self._sink()
        try:
            await sink.execute(sql, *args)
        finally:
            await sink.close()

    async def add_raw_table(self, contract: Contract) -> Contract:
        """The raw table of another dataset in this warehouse's raw schema."""
        moved = contract.model_copy(
            update={"raw_table": f"{self.raw_schema}.{contract.raw_table_name}"}
        )
        await self.execute(raw_table_ddl(moved))
        await self.execute(
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote_ident(self.raw_schema)} TO batchpipe_dbt"
        )
        return moved

    def source_uri(self, batch: Batch) -> str:
        return f"s3://batchpipe-raw/bank_transactions/{batch.batch_id}.csv"

    async def delete_one_raw_row(self, batch_id: str) -> None:
        await self.execute(
            f"DELETE FROM {quote_ident(self.raw_schema)}.bank_transactions"
            " WHERE _batch_id = $1 AND _source_row = 1",
            batch_id,
        )

    # --- reading dbt's output ------------------------------------------------------------

    async def fetch(self, relation: str, order_by: str) -> list[dict[str, Any]]:
        """Rows of one of dbt's relations, e.g. ``marts.daily_domain_totals``."""
        return await self.query(f"SELECT * FROM {self.relation(relation)} ORDER BY {order_by}")

    def relation(self, relation: str) -> str:
        """``marts.batch_audit`` -> the quoted name of that relation in this warehouse."""
        folder, name = relation.split(".")
        return f"{quote_ident(f'{self.dbt_schema}_{folder}')}.{quote_ident(name)}"

    async def query(self, sql: str, *args: object) -> list[dict[str, Any]]:
        """Rows of any query, as the admin role (which sees every schema)."""
        conn = await asyncpg.connect(self.env["BATCHPIPE_PG_ADMIN_DSN"])
        try:
            rows = await conn.fetch(sql, *args)
        finally:
            await conn.close()
        return [dict(row) for row in rows]

    # --- dbt -----------------------------------------------------------------------------

    def dbt(
        self, *args: str, project: Path = DBT_PROJECT, scope: str = "run"
    ) -> subprocess.CompletedProcess[str]:
        """Run dbt against this warehouse; stdout and stderr together in ``stdout``.

        ``scope="full"`` runs every test over every row, the full-history ones included, as
        the batchpipe_quality DAG does.
        """
        env = os.environ | self.env | {"BATCHPIPE_DBT_SCHEMA": self.dbt_schema}
        variables = json.dumps(
            {
                "raw_schema": self.raw_schema,
                "batchpipe_schema": self.ledger_schema,
                "test_scope": scope,
            }
        )
        selector = ("--selector", "full_history") if scope == "full" else ()
        return subprocess.run(
            [
                str(DBT_BIN),
                *args,
                *selector,
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--target-path",
                f"target/test-{self.suffix}",
                "--vars",
                variables,
            ],
            env=env,
            cwd=REPO_ROOT,
            capture_output=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )


def require_dbt() -> Path:
    if not DBT_BIN.exists():
        raise FileNotFoundError(
            f"dbt is not installed at {DBT_BIN}: create its virtualenv with "
            "`python3.11 -m venv .venvs/dbt && .venvs/dbt/bin/pip install -r dbt/requirements.txt`"
        )
    return DBT_BIN
