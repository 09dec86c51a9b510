"""What batchpipe's servers must hold before a service starts, created in one place.

- ``topics``: the data topic and dead-letter topic of every contract, and the manifests topic;
- ``bucket``: the S3 bucket;
- ``database``: the roles (``batchpipe_sink``, ``batchpipe_dbt``, ``airflow``), the
  ``warehouse`` and ``airflow`` databases and the ``raw``/``batchpipe`` schemas with grants.

Every step is idempotent (what exists is left as it is; role passwords are set to the given
ones), waits a bounded time for its server and raises ``ProvisionError`` with one line naming
the cause. The local stack (``batchpipe stack up``) calls the steps as its servers come up;
docker compose's one-shot ``init`` container runs ``python -m batchpipe_common.provision``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ProvisionError(RuntimeError):
    """A server that stays unreachable, refuses the credentials or refuses a creation."""


async def retry_until(
    attempt: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[BaseException], ...],
    timeout_s: float,
    what: str,
    on_wait: Callable[[BaseException], None] | None = None,
) -> T:
    """``attempt()`` until it returns, retrying ``transient`` errors with backoff until
    ``timeout_s``; then ``ProvisionError`` naming ``what`` and the last error."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            return await attempt()
        except transient as exc:
            if time.monotonic() + delay > deadline:
                raise ProvisionError(
                    f"{what} did not answer within {timeout_s:.0f}s ({type(exc).__name__}: {exc})"
                ) from exc
            if on_wait is not None:
                on_wait(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
