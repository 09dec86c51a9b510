"""PostgreSQL adapter: an asyncpg pool from the settings' DSN."""

from __future__ import annotations

from typing import Any

import asyncpg

from batchpipe_common.settings import EndpointSettings


async def create_pool(settings: EndpointSettings, **overrides: Any) -> asyncpg.Pool:
    options: dict[str, Any] = {"min_size": 1, "max_size": 4, "command_timeout": 300}
    options.update(overrides)
    pool = await asyncpg.create_pool(settings.pg_dsn.get_secret_value(), **options)
    assert pool is not None
    return pool
