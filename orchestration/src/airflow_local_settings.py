"""Airflow's local-settings hook (imported by every Airflow process): loopback-only servers.

``batchpipe airflow up`` runs ``airflow standalone`` on a developer's machine, where every
server must listen on loopback only. Airflow's API server takes ``[api] host``, but the log
servers that the scheduler and the triggerer start call ``uvicorn.run(host="")`` (every
interface) with no setting to change it. When ``BATCHPIPE_AIRFLOW_LOOPBACK_ONLY=1`` (set by
``batchpipe airflow up``, never in the containers, where the API server must reach the log
servers across the compose network), a wildcard host given to ``uvicorn.run`` becomes
``127.0.0.1``.
"""

from __future__ import annotations

import os
from typing import Any

WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 - the values being replaced


def _bind_loopback_only() -> None:
    import uvicorn

    original = uvicorn.run
    if getattr(original, "_batchpipe_loopback", False):
        return

    def run(app: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("host") in WILDCARD_HOSTS:
            kwargs["host"] = "127.0.0.1"
        original(app, *args, **kwargs)

    run._batchpipe_loopback = True  # type: ignore[attr-defined]
    uvicorn.run = run


if os.environ.get("BATCHPIPE_AIRFLOW_LOOPBACK_ONLY") == "1":
    _bind_loopback_only()
