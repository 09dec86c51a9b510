"""PostgreSQL adapter: an asyncpg pool from the settings' DSN, and deadlines on its work.

``deadline`` bounds a unit of work on one connection and ends it at once when the connection
is lost. asyncpg (0.32) waits on the transport's flow control without a timeout while it
streams ``COPY ... FROM STDIN`` from an iterator: when the server dies while writing is paused
(PostgreSQL busy, kernel buffers full: the usual state in the middle of a large COPY), the
connection is lost but nothing wakes that wait, and the COPY never returns. A termination
listener on the connection ends the work instead, with ``ConnectionLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from batchpipe_common.settings import EndpointSettings

OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")
"""Connection exception, insufficient resources, operator intervention (shutdown, recovery)."""


class ConnectionLost(ConnectionError):
    """The PostgreSQL connection closed while work was running on it."""


class DeadlineExceeded(TimeoutError):
    """Work on PostgreSQL took longer than its deadline (the server hangs or is overloaded)."""


SESSION_SETTINGS = {"jit": "off"}
"""Every pooled connection's session settings. No JIT: the services run short statements and
COPY, never an analytical query, and PostgreSQL's cost estimate of the ledger view (a batch's
rejects, estimated from the batches that have many) crosses ``jit_above_cost`` once the rejects
table holds a few hundred thousand rows: each status lookup then spent ~250 ms compiling, for a
0.4 ms query. The sink looks a batch up after every commit and for every API call, so one core
went to the compiler and the sink alone fell from 0.73x to 0.44x of server COPY."""


async def create_pool(settings: EndpointSettings, **overrides: Any) -> asyncpg.Pool:
    options: dict[str, Any] = {
        "min_size": 1,
        "max_size": 4,
        "command_timeout": 300,
        "server_settings": SESSION_SETTINGS,
    }
    options.update(overrides)
    pool = await asyncpg.create_pool(settings.pg_dsn.get_secret_value(), **options)
    assert pool is not None
    return pool


def is_outage(exc: BaseException) -> bool:
    """PostgreSQL is down, restarting, recovering or unreachable (not a refused statement)."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in OUTAGE_SQLSTATE_CLASSES
    if isinstance(exc, asyncpg.InternalClientError):
        return _ENDED_MIDWAY in str(exc)
    return isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError)


_ENDED_MIDWAY = "another operation"
"""asyncpg's message when a connection is used while its protocol still waits for the end of
an error. A server that dies sends idle connections a FATAL error and then closes them; a
connection taken from the pool between the two fails this way (seen when the postmaster is
SIGKILLed): the server ended it, an outage. The pool terminates it when it is released."""


@contextlib.asynccontextmanager
async def deadline(conn: asyncpg.Connection, seconds: float, what: str) -> AsyncIterator[None]:
    """Bound the work inside by ``seconds``; end it as soon as ``conn`` is lost.

    Raises ``DeadlineExceeded`` or ``ConnectionLost`` (both naming ``what``) in place of the
    cancelled work. The connection is unusable afterwards: terminate it.
    """
    loop = asyncio.get_running_loop()
    state = {"active": True, "lost": False}
    async with _converted(seconds, what, state) as timer:

        def on_lost(_conn: object) -> None:
            if state["active"] and not state["lost"]:
                state["lost"] = True
                timer.reschedule(loop.time())

        conn.add_termination_listener(on_lost)
        try:
            yield
        finally:
            state["active"] = False
            with contextlib.suppress(asyncpg.InterfaceError):  # already released: lost
                conn.remove_termination_listener(on_lost)


@contextlib.asynccontextmanager
async def bounded_connection(
    pool: asyncpg.Pool, seconds: float, what: str
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection whose work (``what``) is bounded by ``seconds`` (``deadline``);
    a connection whose work failed is closed rather than handed out again."""
    async with pool.acquire(timeout=seconds) as conn:
        try:
            async with deadline(conn, seconds, what):
                yield conn
        except BaseException:
            discard(conn)
            raise


def discard(conn: asyncpg.Connection) -> None:
    """Close a connection whose work failed midway, so the pool never hands it out again."""
    with contextlib.suppress(asyncpg.InterfaceError):  # lost connections are already released
        conn.terminate()


@contextlib.asynccontextmanager
async def _converted(
    seconds: float, what: str, state: dict[str, bool]
) -> AsyncIterator[asyncio.Timeout]:
    timer = asyncio.timeout(seconds)
    try:
        async with timer:
            yield timer
    except (TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
        if state["lost"]:
            raise ConnectionLost(f"{what}: the PostgreSQL connection was lost") from exc
        if isinstance(exc, TimeoutError) and timer.expired():
            raise DeadlineExceeded(f"{what} took longer than {seconds:g} s") from exc
        raise  # the work's own error (asyncpg's command_timeout, a closed connection)
