"""PostgreSQL: batchpipe's roles, databases and schemas, created as a superuser.

- ``batchpipe_sink`` (the pg-sink) owns and writes only the ``raw`` and ``batchpipe`` schemas;
- ``batchpipe_dbt`` (dbt) reads them and builds its own schemas in ``warehouse``;
- ``airflow`` owns the ``airflow`` metadata database.

``PUBLIC`` loses its default rights on ``warehouse`` and its ``public`` schema. Role passwords
are set on every run, so the roles always log in with the secrets given now.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from batchpipe_common.provision import ProvisionError, retry_until

SINK_ROLE = "batchpipe_sink"
DBT_ROLE = "batchpipe_dbt"
AIRFLOW_ROLE = "airflow"
WAREHOUSE_DB = "warehouse"
AIRFLOW_DB = "airflow"
SINK_SCHEMAS = ("raw", "batchpipe")
DBT_WORK_MEM = "256MB"
"""Memory of one sort or hash in a dbt session (PostgreSQL's default: 4MB). Staging sorts each
new batch by key hash (~155 MB per 1M rows) and batch_audit counts its distinct source rows:
at 4MB both spilled to disk, and a 1M-row `dbt build` took 19.1 s instead of 17.7 s. dbt runs
a few models at once (its `threads`), so the bound is a few times this per run."""

WAREHOUSE_GRANTS = (
    f"REVOKE ALL ON DATABASE {WAREHOUSE_DB} FROM PUBLIC",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    f"GRANT CONNECT, TEMPORARY ON DATABASE {WAREHOUSE_DB} TO {SINK_ROLE}, {DBT_ROLE}",
    f"GRANT CREATE ON DATABASE {WAREHOUSE_DB} TO {DBT_ROLE}",
    f"ALTER ROLE {DBT_ROLE} IN DATABASE {WAREHOUSE_DB} SET work_mem = '{DBT_WORK_MEM}'",
    *(f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {SINK_ROLE}" for s in SINK_SCHEMAS),
    f"GRANT USAGE ON SCHEMA {', '.join(SINK_SCHEMAS)} TO {DBT_ROLE}",
    *(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {SINK_ROLE} IN SCHEMA {s} "
        f"GRANT SELECT ON TABLES TO {DBT_ROLE}"
        for s in SINK_SCHEMAS
    ),
)


@dataclass(frozen=True)
class RolePasswords:
    sink: str
    dbt: str
    airflow: str

    def by_role(self) -> dict[str, str]:
        return {SINK_ROLE: self.sink, DBT_ROLE: self.dbt, AIRFLOW_ROLE: self.airflow}


def on_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except asyncpg.InvalidPasswordError as exc:
        raise ProvisionError(f"PostgreSQL refused the superuser's password: {exc}") from exc


async def _ensure_roles(conn: asyncpg.Connection, passwords: RolePasswords) -> None:
    for role, password in passwords.by_role().items():
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        # utility statements take no parameters: the server quotes name and password itself
        statement = await conn.fetchval(
            f"SELECT format('{verb} ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)",
            role,
            password,
        )
        await conn.execute(statement)


async def _ensure_databases(conn: asyncpg.Connection) -> list[str]:
    created = []
    for database, owner in ((WAREHOUSE_DB, None), (AIRFLOW_DB, AIRFLOW_ROLE)):
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            continue
        await conn.execute(f"CREATE DATABASE {database}" + (f" OWNER {owner}" if owner else ""))
        created.append(database)
    return created


async def ensure_database(
    admin_dsn: str, passwords: RolePasswords, *, timeout_s: float = 60.0
) -> list[str]:
    """Roles, databases, schemas and grants; returns the databases this call created."""
    host = urlsplit(admin_dsn).hostname
    conn = await retry_until(
        lambda: _connect(on_database(admin_dsn, "postgres")),
        transient=(OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError),
        timeout_s=timeout_s,
        what=f"PostgreSQL at {host}",
    )
    try:
        await _ensure_roles(conn, passwords)
        created = await _ensure_databases(conn)
    finally:
        await conn.close()
    conn = await _connect(on_database(admin_dsn, WAREHOUSE_DB))
    try:
        async with conn.transaction():
            for statement in WAREHOUSE_GRANTS:
                await conn.execute(statement)
    finally:
        await conn.close()
    return created
