"""Which dependency an exception says is down: PostgreSQL, Kafka or S3 (or none of them).

One rule for the services' APIs (503, not 500) and their retry paths: an outage is a server
that is down, restarting, recovering, overloaded or unreachable, not a request it refused.
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from batchpipe_common import db

S3_OUTAGE_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "503", "500"})
_S3_NETWORK = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    KafkaError,
    BotoCoreError,
    ClientError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""The exception classes whose instances may mean a dependency is down (the APIs map them)."""


def dependency_down(exc: BaseException) -> str | None:
    """``"PostgreSQL"``, ``"Kafka"`` or ``"S3"`` when ``exc`` means that server is down."""
    if isinstance(exc, KafkaError):
        return "Kafka"
    if isinstance(exc, _S3_NETWORK):
        return "S3"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return "S3" if code in S3_OUTAGE_CODES else None
    if db.is_outage(exc):
        return "PostgreSQL" if _from_postgres(exc) else "a server"
    return None


def _from_postgres(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith("asyncpg") or module.startswith("batchpipe_common.db")
